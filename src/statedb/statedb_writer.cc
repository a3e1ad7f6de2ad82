// Writing a Database as xapi's writer (Db_xml.To) prints it, byte for byte
// (xapi-data-model.md 1.2): the declaration and "\n", then everything on one
// line; every schema table in byte order of its name, non-persistent ones
// empty; rows by ref; attributes ref, __ctime, __mtime, then the columns in
// byte order of their names; values whitespace-protected and XML-escaped.
#include <algorithm>
#include <numeric>

#include "statedb/atomic_file.h"
#include "statedb/gzip.h"
#include "statedb/xml_spaces.h"
#include "xgdb/error.h"
#include "xgdb/statedb.h"

namespace xgdb {

namespace {

// One table's fixed text: the column attribute prefixes (` name="`) in the
// order they are written, with the index of the value each one takes.
struct TableLayout {
  std::vector<std::pair<std::string, int>> columns;
};

std::vector<TableLayout> MakeLayouts(const Schema& schema) {
  std::vector<TableLayout> layouts(schema.tables().size());
  for (const Table& t : schema.tables()) {
    std::vector<int> order(t.columns.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return t.columns[a].name < t.columns[b].name; });
    for (int i : order) {
      std::string prefix = " ";
      statedb::AppendEscapedAttribute(t.columns[i].name, &prefix);
      prefix += "=\"";
      layouts[t.index].columns.emplace_back(std::move(prefix), i);
    }
  }
  return layouts;
}

void OpenTable(const Table& t, std::string* out) {
  out->append("<table name=\"");
  statedb::AppendEscapedAttribute(t.name, out);
  out->append("\">");
}

void EmptyTable(const Table& t, std::string* out) {
  out->append("<table name=\"");
  statedb::AppendEscapedAttribute(t.name, out);
  out->append("\"/>");
}

}  // namespace

std::string FormatStateDb(const Database& db, int64_t generation_count) {
  const Schema& schema = db.schema();
  const std::vector<Table>& tables = schema.tables();
  // The contract says tables() is in byte order of the names; the format
  // depends on it, so do not trust it blindly.
  std::vector<const Table*> order;
  for (const Table& t : tables) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const Table* a, const Table* b) { return a->name < b->name; });

  std::vector<TableLayout> layouts = MakeLayouts(schema);
  const std::string gen = std::to_string(generation_count);
  const std::string stamps = " __ctime=\"" + gen + "\" __mtime=\"" + gen + "\"";

  std::string out;
  out.reserve(64 * 1024 + db.TotalRows() * 512);
  out.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<database><manifest>");
  out.append("<pair key=\"schema_major_vsn\" value=\"" +
             std::to_string(schema.major_version()) + "\"/>");
  out.append("<pair key=\"schema_minor_vsn\" value=\"" +
             std::to_string(schema.minor_version()) + "\"/>");
  out.append("<pair key=\"generation_count\" value=\"" + gen + "\"/></manifest>");

  // Rows of one table are gathered per ref so they can be emitted sorted by
  // ref regardless of the iteration order the image happens to use.
  struct PendingRow {
    std::string ref;
    std::string text;
  };
  std::vector<std::vector<PendingRow>> rows(tables.size());
  db.ForEachRow([&](const Table& t, const std::string& ref,
                    const std::vector<std::string>& values) {
    if (!t.persistent) return;  // xapi never saves these rows
    PendingRow row;
    row.ref = ref;
    std::string& s = row.text;
    s.append("<row ref=\"");
    statedb::AppendEscapedAttribute(ref, &s);
    s.append("\"");
    s.append(stamps);
    for (const auto& [prefix, index] : layouts[t.index].columns) {
      s.append(prefix);
      statedb::AppendProtectedAttribute(values[static_cast<size_t>(index)], &s);
      s.push_back('"');
    }
    s.append("/>");
    rows[t.index].push_back(std::move(row));
  });

  for (const Table* t : order) {
    std::vector<PendingRow>& table_rows = rows[t->index];
    if (table_rows.empty()) {
      EmptyTable(*t, &out);
      continue;
    }
    if (!std::is_sorted(table_rows.begin(), table_rows.end(),
                        [](const PendingRow& a, const PendingRow& b) { return a.ref < b.ref; })) {
      std::sort(table_rows.begin(), table_rows.end(),
                [](const PendingRow& a, const PendingRow& b) { return a.ref < b.ref; });
    }
    OpenTable(*t, &out);
    for (PendingRow& r : table_rows) {
      out.append(r.text);
      std::string().swap(r.text);  // keep peak memory near one copy
    }
    out.append("</table>");
  }
  out.append("</database>");
  return out;
}

void WriteStateDbFile(const Database& db, int64_t generation_count, const std::string& path,
                      bool compress, Env* env) {
  std::string text = FormatStateDb(db, generation_count);
  if (compress) text = statedb::Gzip(text);
  statedb::WriteFileAtomically(path, text, 0600, env);
}

}  // namespace xgdb
