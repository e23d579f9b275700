package config

import "time"

// Default returns the built-in configuration: SOP-005 as written, with the
// default classification rules of PRODUCT.md.
func Default() *Config {
	return &Config{
		SOP: SOP{
			DocumentID:  "SOP-005",
			Title:       "Patch Management",
			Owner:       "SRE Team",
			ReviewCycle: "semi-annual",
			Effective:   Date{time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
			LastReview:  Date{time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		},
		Server: Server{
			Listen:          "127.0.0.1:8080",
			Database:        "sqlite:patchctl.db",
			LogFormat:       "auto",
			LogLevel:        "info",
			MaxUploadBytes:  1 << 30,
			MaxWebhookBytes: 25 << 20, // GitHub caps payloads at 25 MB
		},
		Classification: Classification{
			Rules: []Rule{
				{Name: "emergency-exploited-or-critical", Priority: "emergency",
					When: `kev || exploit == "active" || cvss >= 9.0 || "data-breach-risk" in labels`},
				{Name: "high-severity-or-user-facing", Priority: "high",
					When: `cvss >= 7.0 || severity == "critical" || severity == "high" || "user-facing" in labels || "major-bug" in labels`},
			},
			Default: "routine",
		},
		SLA: SLA{
			Emergency:       Duration(24 * time.Hour),
			High:            Duration(7 * 24 * time.Hour),
			RoutineFallback: Duration(30 * 24 * time.Hour),
			WarnBefore:      Duration(24 * time.Hour),
		},
		Environments: []Environment{{Name: "staging"}, {Name: "production", Production: true}},
		Clusters: []Cluster{
			{Name: "management", Role: ClusterManagement, NodePools: []string{"default-pool"}},
			{Name: "main", Role: ClusterMain, NodePools: []string{"default-pool"}},
		},
		Soak: Duration(48 * time.Hour),
		Windows: []Window{{
			Name:     "weekly",
			RRule:    "FREQ=WEEKLY;BYDAY=TU;BYHOUR=22;BYMINUTE=0;BYSECOND=0",
			Timezone: "UTC",
			Duration: Duration(4 * time.Hour),
		}},
		AnnounceLeadTime: Duration(24 * time.Hour),
		Roles:            map[string]string{},
		Grouping:         Grouping{By: "asset_group_package_fix", Kind: "application"},
		Feeds:            Feeds{Interval: Duration(24 * time.Hour)},
		Integrations: Integrations{
			GitHub: GitHub{
				APIURL:            "https://api.github.com/",
				TokenEnv:          "PATCHCTL_GITHUB_TOKEN",
				WebhookSecretEnv:  "PATCHCTL_GITHUB_WEBHOOK_SECRET",
				ReconcileInterval: Duration(10 * time.Minute),
			},
			ArgoCD: ArgoCD{
				TokenEnv:        "PATCHCTL_ARGOCD_TOKEN",
				WebhookTokenEnv: "PATCHCTL_ARGOCD_WEBHOOK_TOKEN",
				RollbackMode:    "argocd",
			},
		},
	}
}
