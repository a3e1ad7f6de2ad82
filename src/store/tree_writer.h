// Building trees: a row's directory, the meta/ directory, a whole image.
// The store's writers serialise trees themselves and add objects with
// ObjectSink::Put (see object_sink.h for why not through libgit2's writes).
#ifndef XGDB_STORE_TREE_WRITER_H_
#define XGDB_STORE_TREE_WRITER_H_

#include <git2.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/object_sink.h"
#include "xgdb/database.h"
#include "xgdb/schema.h"
#include "xgdb/statedb.h"

namespace xgdb::store {

struct EntrySpec {
  std::string name;  // already encoded
  git_oid id;
  git_filemode_t mode;
};

// git's tree order: byte order, a directory comparing as if named "<name>/".
bool GitTreeLess(std::string_view a, git_filemode_t a_mode, std::string_view b,
                 git_filemode_t b_mode);

// Through libgit2 (git_odb_write: into the repository's ObjectSink if it has
// one). For code outside the commit path.
git_oid WriteBlob(git_repository* repo, std::string_view data);
git_oid WriteTree(git_repository* repo, const std::vector<EntrySpec>& entries);

// Into `sink` directly. Entries may come in any order (they are sorted as
// git sorts them); a duplicate or invalid name is an Error(kInvalidArgument).
git_oid WriteBlob(ObjectSink& sink, std::string_view data);
git_oid WriteTree(ObjectSink& sink, std::vector<EntrySpec> entries);
// The bytes of a tree object holding `entries` (sorted in place).
std::string TreeBytes(std::vector<EntrySpec>& entries);
// Appends one tree entry ("<octal mode> <name>\0<20-byte id>") to `out`.
void AppendTreeEntry(std::string* out, git_filemode_t mode, std::string_view name,
                     const git_oid& id);

// The directory of one row from its stored columns (name, stored text);
// columns that are not Table::Stored are skipped, unknown ones are an
// Error(kInvalidArgument), bad set/map text an Error(kParse).
git_oid WriteRowTree(ObjectSink& sink, const Table& table, const FieldList& stored);
git_oid WriteRowTree(git_repository* repo, const Table& table, const FieldList& stored);

// meta/: format and schema, and `generation` when it is above 0.
git_oid WriteMetaTree(ObjectSink& sink, const Schema& schema, int64_t generation = 0);
// The text of meta/generation, and back (nullopt: not a count above 0).
std::string GenerationText(int64_t generation);
std::optional<int64_t> ParseGeneration(std::string_view text);

// The root tree: meta/ plus xapi/ (`data` may be null: no rows at all).
git_oid WriteRootTree(ObjectSink& sink, const git_oid& meta, const git_oid* data);

// The root tree holding every stored row of `db` (the import fast path:
// built bottom-up, no tree is read back), with meta/generation when
// `generation` is above 0.
git_oid WriteImageTree(ObjectSink& sink, const Database& db, const ProgressFn& progress,
                       int64_t generation = 0);

}  // namespace xgdb::store

#endif  // XGDB_STORE_TREE_WRITER_H_
