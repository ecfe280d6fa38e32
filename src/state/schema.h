// The state database's schema: its version, the forward migrations, and the
// checks made before anything is written (corrupt, newer, or foreign files are
// rejected untouched).
#pragma once

#include "state/sqlite.h"

namespace skycore::state_internal {

// Version 1: clusters, cluster_history, cluster_usage. Version 2: requests.
// Version 3: managed_jobs. Version 4: storage.
inline constexpr int kCurrentSchemaVersion = 4;

// The schema version of the database: 0 for an empty file. Throws StateError
// when the file is not a SQLite database or has tables but no schema_version
// (not skycore's, e.g. SkyPilot's own state.db).
int ReadSchemaVersion(Database& db);

// Readies the database for use at target_version (kCurrentSchemaVersion except
// in tests): rejects a newer schema, switches to WAL and applies the missing
// migrations in one transaction. Safe when many processes open at once.
void PrepareSchema(Database& db, int target_version = kCurrentSchemaVersion);

}  // namespace skycore::state_internal
