// Helpers shared by store_test.cc and history_test.cc (header-only: the
// support library belongs to everyone, this file to the store's tests).
#ifndef XGDB_TESTS_STORE_TEST_UTIL_H_
#define XGDB_TESTS_STORE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "schema/sexpr.h"
#include "support/paths.h"
#include "xgdb/error.h"
#include "xgdb/store.h"

namespace xgdb::test {

// VM has stored string/set/map columns, a default, a non-persistent column
// and the derived side of VBD.VM; session is a non-persistent table.
inline std::shared_ptr<const Schema> StoreTestSchema() {
  static const char* kJson = R"JSON({
  "schema_major_vsn": 5, "schema_minor_vsn": 1,
  "tables": [
    {"name": "VBD", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "VM", "type": "string", "persistent": true, "empty": "OpaqueRef:NULL", "default": null,
       "relation": {"table": "VM", "field": "VBDs", "kind": "one-to-many", "side": "ref"}},
      {"name": "device", "type": "string", "persistent": true, "empty": "", "default": ""}]},
    {"name": "VM", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "name__label", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "power_state", "type": "string", "persistent": true, "empty": "Halted", "default": "Halted"},
      {"name": "tags", "type": "set", "persistent": true, "empty": "()", "default": "()"},
      {"name": "other_config", "type": "map", "persistent": true, "empty": "()", "default": "()"},
      {"name": "memory_actual", "type": "string", "persistent": false, "empty": "0", "default": "0"},
      {"name": "VBDs", "type": "set", "persistent": false, "empty": "()", "default": "()", "issetref": true,
       "relation": {"table": "VBD", "field": "VM", "kind": "one-to-many", "side": "set"}}]},
    {"name": "session", "persistent": false, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null}]}
  ],
  "one_to_many": [{"table": "VBD", "field": "VM", "other_table": "VM", "other_field": "VBDs"}],
  "many_to_many": []
})JSON";
  static auto schema = Schema::FromJson(kJson);
  return schema;
}

inline StoreOptions TestOptions(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.host_name = "host-a";
  o.host_id = "host-a-uuid@pool";
  o.fsync = false;
  return o;
}

inline std::string VmRef(int i) {
  char buf[64];
  snprintf(buf, sizeof buf, "OpaqueRef:%08x-0000-4000-8000-%012d", i * 2654435761u, i);
  return buf;
}

inline void AddVm(Database& db, int i, const std::string& label) {
  db.CreateRow("VM",
               {{"uuid", "uuid-vm-" + std::to_string(i)},
                {"name__label", label},
                {"tags", "()"},
                {"other_config", "()"}},
               VmRef(i));
}

// Every row, columns as text; sets/maps sorted so order does not matter.
inline std::vector<std::string> Dump(const Database& db) {
  std::vector<std::string> out;
  db.ForEachRow([&](const Table& t, const std::string& ref, const std::vector<std::string>& v) {
    for (const Column& c : t.columns) {
      std::string text = v[c.index];
      if (c.type == ColumnType::kSet) {
        auto s = sexpr::ParseSet(text);
        std::sort(s.begin(), s.end());
        text = sexpr::PrintSet(s);
      } else if (c.type == ColumnType::kMap) {
        auto m = sexpr::ParseMap(text);
        std::sort(m.begin(), m.end());
        text = sexpr::PrintMap(m);
      }
      out.push_back(t.name + " " + ref + " " + c.name + "=" + text);
    }
  });
  return out;
}

inline CommandResult Git(const std::string& repo, const std::string& args) {
  return Run("git --git-dir=" + ShellQuote(repo) + " " + args);
}

// Every path below `root` with each file's size and modification time: two
// equal snapshots mean nothing was written in between.
inline std::string Snapshot(const std::string& root) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(root)) return root + " " + std::to_string(fs::file_size(root));
  std::string out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    out += e.path().string();
    if (e.is_regular_file()) {
      out += " " + std::to_string(e.file_size()) + " " +
             std::to_string(e.last_write_time().time_since_epoch().count());
    }
    out += "\n";
  }
  return out;
}

// Snapshot() without a writer's spare files, which its own background
// thread makes at any moment.
inline std::string WithoutSpares(const std::string& snapshot) {
  std::string out, line;
  std::istringstream in(snapshot);
  while (std::getline(in, line)) {
    if (line.find("/xgdb-spare/") == std::string::npos) out += line + "\n";
  }
  return out;
}

// `git fsck --strict` of the repository, as a user would check it.
inline void ExpectFsckClean(const std::string& repo) {
  auto fsck = Git(repo, "fsck --strict --no-progress");
  EXPECT_EQ(fsck.exit_code, 0) << fsck.output;
}

}  // namespace xgdb::test

#endif  // XGDB_TESTS_STORE_TEST_UTIL_H_
