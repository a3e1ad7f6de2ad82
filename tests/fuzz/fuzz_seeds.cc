// Writes the fuzz targets' starting corpora (tools/fuzz.sh) from the test
// vectors: every request of v1.jsonl and v2.jsonl, the HTTP examples, the
// fixture state.db files, and a few sets, maps, names and peer messages.
//
//   fuzz_seeds OUTDIR      -> OUTDIR/<target>/<n>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "replica/peer_message.h"

namespace fs = std::filesystem;

namespace {

void Write(const fs::path& dir, const std::vector<std::string>& seeds) {
  fs::create_directories(dir);
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream(dir / std::to_string(i), std::ios::binary) << seeds[i];
  }
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> Requests(const std::string& jsonl) {
  std::vector<std::string> out;
  std::ifstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    nlohmann::json vector = nlohmann::json::parse(line);
    for (const nlohmann::json& step : vector.value("steps", nlohmann::json::array())) {
      if (step.contains("request")) out.push_back(step["request"].get<std::string>());
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seeds OUTDIR\n";
    return 2;
  }
  const fs::path out = argv[1];
  const std::string dir = xgdb::fuzz::VectorsDir();
  Write(out / "v1_request_fuzz", Requests(dir + "v1.jsonl"));
  Write(out / "v2_request_fuzz", Requests(dir + "v2.jsonl"));
  std::vector<std::string> http;
  for (const nlohmann::json& example : nlohmann::json::parse(Read(dir + "http-examples.json"))) {
    http.push_back(example.value("request_bytes", ""));
  }
  http.push_back("PROXY TCP4 10.0.0.1 10.0.0.2 40000 443\r\nPOST /remote_db_access_v2 HTTP/1.1\r\n"
                 "content-length: 2\r\n\r\n[]");
  Write(out / "http_request_fuzz", http);
  Write(out / "statedb_fuzz",
        {Read(dir + "fixture-state.db"), Read(dir + "fixture-state.as-written-by-xapi.db")});
  Write(out / "sexpr_fuzz", {"()", "('a' 'b')", "(('k' 'v') ('k2' 'v\\'2'))", "('\\\\' '')"});
  Write(out / "name_codec_fuzz", {"OpaqueRef:3a4b", "..", ".git", "a/b", "%41", "", "git~1"});
  xgdb::replica::PeerMessage m;
  m.call = "push";
  m.from = "3a180545-5d4f-4d6e-885f-65cb3b59bd4e";
  m.heads[m.from] = std::string(40, 'a');
  m.master = std::string(40, 'b');
  m.digest = std::string(40, 'c');
  m.time_ms = 1796470453000;
  m.pack = "PACK";
  Write(out / "peer_message_fuzz", {xgdb::replica::EncodePeerMessage(m)});
  return 0;
}
