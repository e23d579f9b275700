-- Web UI, findings: the indexes behind the findings list and the counts
-- behind the dashboard's open findings (store/webfindings.go).

-- The findings list shows one state at a time, most severe first and newest
-- first within a severity: the order of findings_state_severity (0002),
-- which serves the list without filters and with a severity. These serve
-- the filters that would otherwise read every finding of a state to fill a
-- page: a package (every version, every asset), KEV-listed findings and
-- findings without a fix, in that same order. The KEV and no-fix indexes are
-- partial: they hold only the findings they serve. (EPSS has no index: each
-- one costs every import; the list checks a bounded number of findings
-- against filters no index holds.)
CREATE INDEX findings_package_state_severity ON findings (package, state, severity_rank);
CREATE INDEX findings_kev_state_severity ON findings (state, severity_rank) WHERE kev = TRUE;
CREATE INDEX findings_nofix_state_severity ON findings (state, severity_rank) WHERE fixed_version = '';

-- finding_counts counts findings by state, severity, KEV and whether a fix
-- is known. Counting a million findings takes hundreds of milliseconds; the
-- triggers below keep these few rows current in the transaction that
-- changes the findings, so the dashboard reads them instead. (SQLite has a
-- single writer, so the counter rows are never contended.)
CREATE TABLE finding_counts (
    state         TEXT    NOT NULL,
    severity_rank INTEGER NOT NULL,
    kev           INTEGER NOT NULL,
    no_fix        INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (state, severity_rank, kev, no_fix)
);
INSERT INTO finding_counts (state, severity_rank, kev, no_fix, n)
SELECT state, severity_rank, kev, fixed_version = '', COUNT(*) FROM findings GROUP BY 1, 2, 3, 4;

-- The migration runner ends a statement at a line ending in ";"
-- (store.splitStatements): the statements inside a trigger end mid-line.
CREATE TRIGGER finding_counts_insert AFTER INSERT ON findings
BEGIN
    INSERT INTO finding_counts (state, severity_rank, kev, no_fix, n)
    VALUES (NEW.state, NEW.severity_rank, NEW.kev, NEW.fixed_version = '', 1)
    ON CONFLICT (state, severity_rank, kev, no_fix) DO UPDATE SET n = n + 1; END;

CREATE TRIGGER finding_counts_delete AFTER DELETE ON findings
BEGIN
    UPDATE finding_counts SET n = n - 1
    WHERE state = OLD.state AND severity_rank = OLD.severity_rank AND kev = OLD.kev AND no_fix = (OLD.fixed_version = ''); END;

CREATE TRIGGER finding_counts_update AFTER UPDATE OF state, severity_rank, kev, fixed_version ON findings
WHEN OLD.state IS NOT NEW.state OR OLD.severity_rank IS NOT NEW.severity_rank OR OLD.kev IS NOT NEW.kev
    OR (OLD.fixed_version = '') IS NOT (NEW.fixed_version = '')
BEGIN
    UPDATE finding_counts SET n = n - 1
    WHERE state = OLD.state AND severity_rank = OLD.severity_rank AND kev = OLD.kev AND no_fix = (OLD.fixed_version = '')
    ; INSERT INTO finding_counts (state, severity_rank, kev, no_fix, n)
    VALUES (NEW.state, NEW.severity_rank, NEW.kev, NEW.fixed_version = '', 1)
    ON CONFLICT (state, severity_rank, kev, no_fix) DO UPDATE SET n = n + 1; END;
