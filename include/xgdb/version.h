// The release this code is (CMakeLists.txt's project version).
#ifndef XGDB_VERSION_H_
#define XGDB_VERSION_H_

namespace xgdb {

// "0.1.0": what `xapi-gitdb --version` and `status` print.
const char* Version();

}  // namespace xgdb

#endif  // XGDB_VERSION_H_
