package lifecycle

import "github.com/patchctl/patchctl"

type st = patchctl.State

func adv(from, to st, gates ...Gate) Edge {
	return Edge{From: from, To: to, Action: ActionAdvance, Gates: gates}
}

func side(action string, to st, gates []Gate, from ...st) []Edge {
	out := make([]Edge, 0, len(from))
	for _, f := range from {
		out = append(out, Edge{From: f, To: to, Action: action, Gates: gates})
	}
	return out
}

var rollbackGates = []Gate{gatePreviousStable}

var applicationGraph = concat(
	[]Edge{
		adv(patchctl.StateDraft, patchctl.StateInProgress, gateHasTrigger),
		adv(patchctl.StateInProgress, patchctl.StateInReview, gateDedicatedBranch, gatePullRequest),
		adv(patchctl.StateInReview, patchctl.StateMerged, gatePullRequest, gateReviewByOther, gateMerged),
		adv(patchctl.StateMerged, patchctl.StateStaging, gateDeployedPreprod, gateNotHalted),
		adv(patchctl.StateStaging, patchctl.StateValidated, gateDeployedPreprod, gateTestsPassed, gateSignoff),
		adv(patchctl.StateValidated, patchctl.StateProduction, gateSameVersionValidated, gateDeployedProduction, gateNotHalted),
		adv(patchctl.StateProduction, patchctl.StateDone, gateNotHalted),
	},
	side(ActionRollback, patchctl.StateRolledBack, rollbackGates,
		patchctl.StateStaging, patchctl.StateValidated, patchctl.StateProduction),
	side(ActionRework, patchctl.StateInProgress, nil, patchctl.StateRolledBack),
	side(ActionCancel, patchctl.StateCancelled, nil,
		patchctl.StateDraft, patchctl.StateInProgress, patchctl.StateInReview, patchctl.StateMerged,
		patchctl.StateStaging, patchctl.StateValidated, patchctl.StateProduction, patchctl.StateRolledBack),
)

var infraPrefix = []Edge{
	adv(patchctl.StateDraft, patchctl.StateInProgress, gateHasTrigger),
	adv(patchctl.StateInProgress, patchctl.StateStaging, gateChangeTracked, gateVersionSet, gateDeployedPreprod),
	adv(patchctl.StateStaging, patchctl.StateValidated, gateDeployedPreprod, gateTestsPassed, gateSignoff),
}

var infrastructureGraph = concat(
	infraPrefix,
	[]Edge{
		adv(patchctl.StateValidated, patchctl.StateProduction, gateSameVersionValidated, gateDeployedProduction, gateNotHalted),
		adv(patchctl.StateProduction, patchctl.StateDone, gateNotHalted),
	},
	side(ActionRollback, patchctl.StateRolledBack, rollbackGates,
		patchctl.StateStaging, patchctl.StateValidated, patchctl.StateProduction),
	side(ActionRework, patchctl.StateInProgress, nil, patchctl.StateRolledBack),
	side(ActionCancel, patchctl.StateCancelled, nil,
		patchctl.StateDraft, patchctl.StateInProgress, patchctl.StateStaging, patchctl.StateValidated,
		patchctl.StateProduction, patchctl.StateRolledBack),
)

var downtimeGraph = concat(
	infraPrefix,
	[]Edge{
		adv(patchctl.StateValidated, patchctl.StateScheduled, gateWindowBooked),
		adv(patchctl.StateScheduled, patchctl.StateAnnounced, gateWindowBooked, gateAnnounced),
		adv(patchctl.StateAnnounced, patchctl.StateBackedUp, gateWindowBooked, gateBackup),
		adv(patchctl.StateBackedUp, patchctl.StateUpgrading,
			gateSameVersionValidated, gateWindowBooked, gateAnnounced, gateBackup, gateInsideWindow, gateNotHalted),
		adv(patchctl.StateUpgrading, patchctl.StateVerified, gateUpgradeValidated),
		adv(patchctl.StateVerified, patchctl.StateResumed),
		adv(patchctl.StateResumed, patchctl.StateDone),
	},
	// A new window invalidates the announcement and the backup taken for the
	// old one: the patch goes back to scheduled.
	side(ActionRebook, patchctl.StateScheduled, []Gate{gateWindowBooked}, patchctl.StateAnnounced, patchctl.StateBackedUp),
	side(ActionRollback, patchctl.StateRolledBack, rollbackGates,
		patchctl.StateStaging, patchctl.StateValidated, patchctl.StateScheduled, patchctl.StateAnnounced,
		patchctl.StateBackedUp, patchctl.StateUpgrading, patchctl.StateVerified, patchctl.StateResumed),
	side(ActionRework, patchctl.StateInProgress, nil, patchctl.StateRolledBack),
	side(ActionCancel, patchctl.StateCancelled, nil,
		patchctl.StateDraft, patchctl.StateInProgress, patchctl.StateStaging, patchctl.StateValidated,
		patchctl.StateScheduled, patchctl.StateAnnounced, patchctl.StateBackedUp, patchctl.StateRolledBack),
)

var kubernetesGraph = concat(
	[]Edge{
		adv(patchctl.StateDraft, patchctl.StatePlanned, gateHasTrigger, gateTargetVersion, gateManagementInPlan),
		adv(patchctl.StatePlanned, patchctl.StateUpgradingManagement, gateManagementInPlan, gateNotHalted),
		adv(patchctl.StateUpgradingManagement, patchctl.StateSoaking, gateManagementDone, gateNotHalted),
		adv(patchctl.StateSoaking, patchctl.StateUpgradingMain, gateSoakElapsed, gateSoakHealthy, gateNotHalted),
		adv(patchctl.StateUpgradingMain, patchctl.StateDone, gateMainDone, gateNotHalted),
	},
	side(ActionAbort, patchctl.StateAborted, nil,
		patchctl.StatePlanned, patchctl.StateUpgradingManagement, patchctl.StateSoaking, patchctl.StateUpgradingMain),
	side(ActionCancel, patchctl.StateCancelled, nil, patchctl.StateDraft, patchctl.StatePlanned),
)

func concat(parts ...[]Edge) []Edge {
	var out []Edge
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func graph(kind patchctl.Kind, downtime bool) []Edge {
	switch kind {
	case patchctl.KindApplication:
		return applicationGraph
	case patchctl.KindKubernetes:
		return kubernetesGraph
	case patchctl.KindInfrastructure:
		if downtime {
			return downtimeGraph
		}
		return infrastructureGraph
	}
	return nil
}

// Rollbackable reports whether the patch's kind and state allow a rollback.
func Rollbackable(p *patchctl.Patch) bool {
	for _, e := range Edges(p) {
		if e.Action == ActionRollback {
			return true
		}
	}
	return false
}
