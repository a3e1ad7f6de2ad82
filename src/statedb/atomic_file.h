// Replacing a file atomically, the way xapi writes state.db
// (xapi-data-model.md 1.1): a fresh temporary file in the same directory,
// fchmod, write, fsync, close, rename over the target, fsync the directory.
// A reader sees either the old file or the new one, never a mix; after a
// crash the old file is intact or the new one is complete.
#ifndef XGDB_STATEDB_ATOMIC_FILE_H_
#define XGDB_STATEDB_ATOMIC_FILE_H_

#include <sys/types.h>

#include <string>
#include <string_view>

namespace xgdb {
class Env;
}

namespace xgdb::statedb {

// Replaces `path` with `contents` (file mode `mode`). On any failure throws
// Error(kIo) naming the path and the system error, removes the temporary
// file and leaves an existing `path` untouched.
// Written through `env` (null: Env::Default()).
void WriteFileAtomically(const std::string& path, std::string_view contents,
                         mode_t mode = 0600, Env* env = nullptr);

// The whole file. Error(kIo) naming the path when it cannot be read.
std::string ReadWholeFile(const std::string& path);

}  // namespace xgdb::statedb

#endif  // XGDB_STATEDB_ATOMIC_FILE_H_
