-- Which process of a revision wrote a log line (`backend` or `admin`);
-- NULL for Core's own events and for lines kept before revisions had two.
ALTER TABLE plugin_events ADD COLUMN process TEXT;
