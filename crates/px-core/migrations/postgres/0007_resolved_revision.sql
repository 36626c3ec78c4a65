-- The resolved revision (what Core runs: the manifest as validated at stage,
-- JSON), read on rollback, follow and recovery instead of parsing the
-- revision's manifest again. NULL for revisions staged before it existed.
ALTER TABLE plugin_revisions ADD COLUMN resolved TEXT;
