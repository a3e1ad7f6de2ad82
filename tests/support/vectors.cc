#include "support/vectors.h"

#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "support/paths.h"

namespace xgdb::test {

std::string VectorPath(const std::string& name) { return DataPath("vectors/" + name); }

std::vector<VectorCase> LoadVectorCases(const std::string& file) {
  std::string path = file.find('/') == std::string::npos ? VectorPath(file) : file;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<VectorCase> cases;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    try {
      nlohmann::json j = nlohmann::json::parse(line);
      VectorCase c;
      c.id = j.at("id").get<std::string>();
      c.description = j.value("description", "");
      for (const nlohmann::json& s : j.at("steps")) {
        VectorStep step;
        step.request = s.at("request").get<std::string>();
        step.status = s.at("status").get<int>();
        step.response = s.value("response", "");
        step.server_exception = s.value("server_exception", "");
        c.steps.push_back(std::move(step));
      }
      cases.push_back(std::move(c));
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": " + e.what());
    }
  }
  return cases;
}

}  // namespace xgdb::test
