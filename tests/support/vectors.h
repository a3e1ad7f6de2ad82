// The protocol vectors of tests/data/vectors/ (README.md there explains
// them): reading the .jsonl cases, and the fixture database every case
// starts from. Shared by the in-process dispatcher tests and the HTTP tests.
#ifndef XGDB_TESTS_SUPPORT_VECTORS_H_
#define XGDB_TESTS_SUPPORT_VECTORS_H_

#include <memory>
#include <string>
#include <vector>

#include "xgdb/database.h"

namespace xgdb::test {

struct VectorStep {
  std::string request;           // exact body
  int status = 200;              // 200, or 500 (protocol cannot carry the error)
  std::string response;          // exact body when status is 200, else ""
  std::string server_exception;  // informative (xapi's OCaml exception)
};

struct VectorCase {
  std::string id;  // e.g. "create_row-ok"; unique within a file
  std::string description;
  std::vector<VectorStep> steps;  // run in order on one fresh fixture
};

// tests/data/vectors/<name>.
std::string VectorPath(const std::string& name);

// Reads a .jsonl file of cases ("v1.jsonl", "v2.jsonl", or a full path).
// Throws std::runtime_error on a malformed line.
std::vector<VectorCase> LoadVectorCases(const std::string& file);

// The fixture schema (fixture-schema.json).
std::shared_ptr<const Schema> VectorSchema();

// A fresh database as xapi loads fixture-state.db (ParseStateDb).
std::unique_ptr<Database> LoadVectorFixture();

// The same starting state built through CreateRow, as the vectors README
// describes (vm1, vm2, vm3, vbd1, vbd2, vbd3; canonical set/map text).
std::unique_ptr<Database> BuildVectorFixtureByCreateRow();

// A text image of everything the protocol can observe of the rows: for each
// table in schema order, each ref (ReadRefs order) with its ReadRecord.
// Two databases with equal dumps answer every read the same way.
std::string DumpDatabase(const Database& db);

}  // namespace xgdb::test

#endif  // XGDB_TESTS_SUPPORT_VECTORS_H_
