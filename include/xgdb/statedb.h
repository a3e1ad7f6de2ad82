// xapi's state.db XML: reading it into a Database and writing one back.
//
// The format (manifest, tables, rows, whitespace protection, old variants,
// gzip) is described in ../shared/spec/xapi-data-model.md section 1 and in
// docs/format.md. Reading loads the way xapi does (unknown table or column is
// an error, missing columns take defaults, non-persistent columns are reset,
// one-to-many sets rebuilt). Writing produces exactly what xapi's writer
// prints, and replaces the target file atomically.
#ifndef XGDB_STATEDB_H_
#define XGDB_STATEDB_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "xgdb/database.h"
#include "xgdb/schema.h"

namespace xgdb {

class Env;  // env.h; null means Env::Default()

struct StateDbManifest {
  int schema_major = 0;
  int schema_minor = 0;
  int64_t generation_count = 0;
};

// Called now and then during long reads: (rows done, rows expected or 0).
using ProgressFn = std::function<void(size_t done, size_t total)>;

// Parses state.db text (gzip-compressed input is detected by its magic
// bytes). With `schema` null, the schema shipped for the manifest's version
// is used (Error kInvalidArgument when none matches). Any problem -- not XML,
// truncated, unknown table or column, duplicate ref or uuid, bad set/map
// text, missing default -- throws Error(kInvalidArgument) whose message names
// where it is (table, ref, column).
std::unique_ptr<Database> ParseStateDb(const std::string& data,
                                       std::shared_ptr<const Schema> schema,
                                       StateDbManifest* manifest = nullptr,
                                       const ProgressFn& progress = nullptr);
std::unique_ptr<Database> ReadStateDbFile(const std::string& path,
                                          std::shared_ptr<const Schema> schema,
                                          StateDbManifest* manifest = nullptr,
                                          const ProgressFn& progress = nullptr);

// The document xapi would write for `db`: every table of its schema in byte
// order, persistent tables with their rows (refs ascending, columns in byte
// order, __ctime = __mtime = generation), non-persistent tables empty.
std::string FormatStateDb(const Database& db, int64_t generation_count);
// Writes FormatStateDb() to `path` atomically: temp file in the same
// directory, fsync, rename, fsync of the directory. gzip when `compress`.
void WriteStateDbFile(const Database& db, int64_t generation_count,
                      const std::string& path, bool compress = false, Env* env = nullptr);

}  // namespace xgdb

#endif  // XGDB_STATEDB_H_
