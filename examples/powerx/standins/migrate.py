#!/usr/bin/env python3
"""Stand-in for a PowerX plugin's migration binary (backend/bin/migrate).

`migrate setup` creates the plugin's tables in POWERX_PLUGIN_DATA_DIR/plugin.db
and seeds them; `migrate setup --fail` fails the way a broken migration does
(a message on stderr, exit status 1). Standard library only.
"""

import os
import sqlite3
import sys


def main(args):
    if not args or args[0] != "setup":
        print(f"usage: migrate setup [--fail] (got {args})", file=sys.stderr)
        return 2
    data = os.environ.get("POWERX_PLUGIN_DATA_DIR") or os.environ.get("PX_PLUGIN_DATA_DIR", ".")
    print(f"migrating {os.environ.get('POWERX_PLUGIN_ID')} {os.environ.get('POWERX_PLUGIN_VERSION')} in {os.getcwd()}", flush=True)
    if "--fail" in args:
        print("migration 0002_template_index failed: near \"INDX\": syntax error", file=sys.stderr, flush=True)
        return 1
    with sqlite3.connect(os.path.join(data, "plugin.db")) as db:
        db.execute("CREATE TABLE IF NOT EXISTS templates (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
        db.execute("INSERT OR IGNORE INTO templates (name) VALUES ('welcome'), ('invoice')")
    print("migration 0001_templates applied", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
