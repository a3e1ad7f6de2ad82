// Looking after a repository: combining its packs on demand (`gc`) and
// describing it (`status`).
#include <filesystem>

#include "store/image_loader.h"
#include "store/layout.h"
#include "store/name_codec.h"
#include "store/repack.h"
#include "store/store_impl.h"

namespace xgdb {

using namespace store;
namespace fs = std::filesystem;

namespace {

// Row directories below a table's directory, `depth` fan-out levels down.
size_t CountRows(git_repository* repo, const git_oid& dir, int depth) {
  git_tree* raw = nullptr;
  Check(git_tree_lookup(&raw, repo, &dir), "reading a table's tree", ErrorKind::kCorrupt);
  TreePtr tree(raw);
  size_t n = git_tree_entrycount(tree.get());
  if (depth == 0) return n;
  size_t rows = 0;
  for (size_t i = 0; i < n; ++i) {
    rows += CountRows(repo, *git_tree_entry_id(git_tree_entry_byindex(tree.get(), i)), depth - 1);
  }
  return rows;
}

}  // namespace

size_t Store::Compact() {
  if (!impl_->repacker) {
    throw Error(ErrorKind::kInvalidArgument, "repository " + path() + " is open read-only");
  }
  return impl_->repacker->Compact();
}

size_t Store::PackCount() const { return ListPacks(path()).size(); }

Store::Stats Store::GetStats() const {
  Stats out;
  for (const std::string& pack : ListPacks(path())) {
    std::error_code ec;
    ++out.packs;
    out.pack_bytes += fs::file_size(pack, ec);
  }
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path(), ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2)) out.repository_bytes += it->file_size(ec2);
  }
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  git_repository* repo = impl_->repo.get();
  bool found = false;
  git_oid head = impl_->MasterId(&found);
  if (!found) throw Error(ErrorKind::kCorrupt, "repository " + path() + " has no master branch");
  TreePtr root = CommitRoot(repo, head);
  out.format = ReadFormatNumber(repo, root.get());
  const Fanout fanout = FanoutOfFormat(out.format);
  const Schema& schema = *impl_->schema;
  for (const Table& table : schema.tables()) {
    size_t rows = 0;
    if (impl_->db) {
      rows = impl_->db->RowCount(table.name);
    } else if (table.persistent) {
      std::string dir = std::string(kDataDir) + "/" + EncodeName(table.name);
      git_tree_entry* raw = nullptr;
      if (git_tree_entry_bypath(&raw, root.get(), dir.c_str()) == 0) {
        TreeEntryPtr entry(raw);
        rows = CountRows(repo, *git_tree_entry_id(entry.get()), fanout.levels);
      }
    }
    if (rows > 0) out.rows.emplace_back(table.name, rows);
  }
  return out;
}

}  // namespace xgdb
