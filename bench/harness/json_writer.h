// Copyright (c) Canopy authors.
//
// JsonWriter: builds an indented JSON document for the harness's --json
// report. Commas, quoting and escaping are handled here, so the callers
// only say what goes where; non-finite numbers are written as null.
//
// Thread safety: none (one writer per document).

#ifndef CANOPY_BENCH_HARNESS_JSON_WRITER_H_
#define CANOPY_BENCH_HARNESS_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace canopy::bench {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // The key of the next value inside an object.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Number(double value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  // The document so far (complete once every Begin has its End).
  const std::string& str() const { return out_; }

 private:
  void BeforeValue();
  void Newline();
  std::string out_;
  struct Level {
    bool array = false;
    bool empty = true;
  };
  std::vector<Level> stack_;
  bool after_key_ = false;
};

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_JSON_WRITER_H_
