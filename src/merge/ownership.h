// Which host owns each object, and the check that a merge only changes
// objects its acting host owns (docs/ownership.md).
//
// The rules are data: one line per table saying how to find the owning
// host of a row. Tables without a rule are shared (pool, SR, network, VDI,
// ...): any host may change them, and field conflicts still apply.
#ifndef XGDB_MERGE_OWNERSHIP_H_
#define XGDB_MERGE_OWNERSHIP_H_

#include <git2.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "merge/git_reader.h"
#include "merge/tree_merge.h"
#include "xgdb/database.h"
#include "xgdb/schema.h"

namespace xgdb::merge {

struct OwnerRule {
  enum class Kind {
    kSelf,     // the row is a host: it owns itself
    kField,    // `field` of the row is a Ref host naming the owner
    kVia,      // the owner of the `other_table` row that `field` names
    kNamedBy,  // the owner of the `other_table` row whose `other_field` names this row
  } kind = Kind::kSelf;
  std::string table;
  std::string field;        // kField, kVia
  std::string other_table;  // kVia, kNamedBy
  std::string other_field;  // kNamedBy
};

class OwnershipRules {
 public:
  // The rules of docs/ownership.md, for xapi's schema (5.909 and older).
  static const OwnershipRules& Builtin();
  // The text of the builtin rules (the data Builtin() parses).
  static const char* BuiltinText();
  // Parses rule lines: "<table> self", "<table> field <column>",
  // "<table> via <column> <table>", "<table> named-by <table>.<column>";
  // '#' starts a comment. Error(kInvalidArgument) naming the bad line.
  static OwnershipRules Parse(const std::string& text);

  // nullptr: the table is shared.
  const OwnerRule* Find(const std::string& table) const;
  const std::map<std::string, OwnerRule>& rules() const { return rules_; }
  // Error(kInvalidArgument) when a rule names a table or column `schema`
  // lacks or that is not stored (so it cannot be read from a tree).
  void Validate(const Schema& schema) const;

 private:
  std::map<std::string, OwnerRule> rules_;
};

// One version of the database, read a field at a time.
class RowView {
 public:
  virtual ~RowView() = default;
  // The stored text of `column` of a row; nullopt when the row is absent.
  virtual std::optional<std::string> Field(const std::string& table, const std::string& ref,
                                           const std::string& column) = 0;
  // The refs of the rows of `table` whose `column` equals `value`.
  virtual std::vector<std::string> RefsWhere(const std::string& table, const std::string& column,
                                             const std::string& value) = 0;
};

// A RowView of a root tree. Field() reads one row path (a few trees);
// RefsWhere() reads the whole table once (then answers from an index), so
// kNamedBy rules cost a table scan per merge: keep them for small tables or
// pass an ImageRowView of ours instead.
class TreeRowView : public RowView {
 public:
  TreeRowView(GitReader* reader, const git_oid& root, std::shared_ptr<const Schema> schema);
  std::optional<std::string> Field(const std::string& table, const std::string& ref,
                                   const std::string& column) override;
  std::vector<std::string> RefsWhere(const std::string& table, const std::string& column,
                                     const std::string& value) override;

 private:
  GitReader* reader_;
  git_oid root_;
  std::shared_ptr<const Schema> schema_;
  std::map<std::pair<std::string, std::string>, std::multimap<std::string, std::string>> index_;
};

// A RowView of an in-memory image (e.g. the store's image of master).
class ImageRowView : public RowView {
 public:
  explicit ImageRowView(const Database& db) : db_(db) {}
  std::optional<std::string> Field(const std::string& table, const std::string& ref,
                                   const std::string& column) override;
  std::vector<std::string> RefsWhere(const std::string& table, const std::string& column,
                                     const std::string& value) override;

 private:
  const Database& db_;
};

// The owning host's ref of a row, or "" when it is shared (no rule, or the
// rule's reference is empty or OpaqueRef:NULL). `views` are asked in order:
// the first one holding a row answers for it.
std::string OwnerOf(const OwnershipRules& rules, const std::string& table,
                    const std::string& ref, const std::vector<RowView*>& views);

// Whether a change of `kind` to a row of `table` is its owner's alone. A
// host row (`self`) is created and deleted by the pool (a join or an eject,
// which xapi runs on the master, and an ejected host may be dead): only
// changing it is the host's own business. Rows of shared tables: false.
bool OwnedChange(const OwnershipRules& rules, const std::string& table, RowChanged::Kind kind);

// Refuses (Error kOwnership, args: table, ref, owner, actor) the first
// changed row whose owner, looked up in `views` (ours first, then theirs for
// rows ours lacks), is a host other than `actor`. No-op when actor is "".
void CheckOwnership(const OwnershipRules& rules, const std::string& actor,
                    const std::vector<RowChanged>& changed, const std::vector<RowView*>& views);

}  // namespace xgdb::merge

#endif  // XGDB_MERGE_OWNERSHIP_H_
