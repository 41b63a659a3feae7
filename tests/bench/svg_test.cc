// Copyright (c) Canopy authors.
//
// The SVG chart writer: well-formed XML (checked by a minimal parser
// here), every series drawn and named, tick labels readable.

#include "bench/harness/svg.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace canopy::bench {
namespace {

// A minimal XML well-formedness check: a prolog, then one root element;
// tags balanced and properly nested; attribute values quoted; only the
// five predefined entities (or numeric ones). Returns "" or the problem.
std::string CheckXml(const std::string& doc, std::string* root) {
  size_t i = 0;
  if (doc.rfind("<?xml", 0) == 0) {
    i = doc.find("?>");
    if (i == std::string::npos) return "unterminated prolog";
    i += 2;
  }
  std::vector<std::string> open;
  bool seen_root = false;
  auto entity_ok = [&](size_t at) {
    for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"}) {
      if (doc.compare(at, std::char_traits<char>::length(e), e) == 0) return true;
    }
    return false;
  };
  while (i < doc.size()) {
    const char c = doc[i];
    if (c == '&' && !entity_ok(i)) return "bad entity at " + std::to_string(i);
    if (c == '>') return "stray '>' at " + std::to_string(i);
    if (c != '<') {
      if (open.empty() && !std::isspace(static_cast<unsigned char>(c))) {
        return "text outside the root at " + std::to_string(i);
      }
      ++i;
      continue;
    }
    const bool closing = i + 1 < doc.size() && doc[i + 1] == '/';
    size_t j = i + (closing ? 2 : 1);
    size_t name_end = j;
    while (name_end < doc.size() && (std::isalnum(static_cast<unsigned char>(doc[name_end])) ||
                                     doc[name_end] == '-' || doc[name_end] == ':')) {
      ++name_end;
    }
    const std::string name = doc.substr(j, name_end - j);
    if (name.empty()) return "tag without a name at " + std::to_string(i);
    // Attributes: name="value" pairs up to > or />.
    size_t k = name_end;
    bool self_closing = false;
    while (true) {
      while (k < doc.size() && std::isspace(static_cast<unsigned char>(doc[k]))) ++k;
      if (k >= doc.size()) return "unterminated tag " + name;
      if (doc[k] == '>') break;
      if (doc.compare(k, 2, "/>") == 0) {
        self_closing = true;
        ++k;
        break;
      }
      if (closing) return "attributes on a closing tag " + name;
      size_t eq = doc.find('=', k);
      if (eq == std::string::npos || eq + 1 >= doc.size() || doc[eq + 1] != '"') {
        return "unquoted attribute in " + name;
      }
      size_t end = doc.find('"', eq + 2);
      if (end == std::string::npos) return "unterminated attribute in " + name;
      const std::string value = doc.substr(eq + 2, end - eq - 2);
      if (value.find('<') != std::string::npos) return "'<' in an attribute of " + name;
      k = end + 1;
    }
    if (closing) {
      if (open.empty() || open.back() != name) return "mismatched </" + name + ">";
      open.pop_back();
    } else {
      if (open.empty()) {
        if (seen_root) return "a second root element " + name;
        seen_root = true;
        *root = name;
      }
      if (!self_closing) open.push_back(name);
    }
    i = k + 1;
  }
  if (!open.empty()) return "unclosed <" + open.back() + ">";
  if (!seen_root) return "no root element";
  return "";
}

size_t CountOf(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

Chart LatencyChart() {
  Chart c;
  c.title = "Latency <p50> & friends";
  c.x_label = "devices";
  c.y_label = "latency";
  c.log_x = c.log_y = true;
  c.format_y = FormatMicros;
  c.series.push_back({"scan", {{1e4, 120}, {1e5, 1300}, {1e6, 14000}}, false});
  c.series.push_back({"check \"point\"", {{1e4, 1.5}, {1e5, 1.7}, {1e6, 1.9}}, false});
  c.series.push_back({"raw RocksDB", {{1e4, 1.0}, {1e6, 1.2}, {1e5, 0}}, true});  // 0: not on log y
  return c;
}

TEST(SvgTest, LogLogChartIsWellFormedAndHasEverySeries) {
  const std::string svg = RenderSvg(LatencyChart());
  std::string root;
  EXPECT_EQ(CheckXml(svg, &root), "");
  EXPECT_EQ(root, "svg");
  EXPECT_EQ(CountOf(svg, "<polyline"), 3u);
  // One marker per drawable point: the zero latency cannot sit on a log axis.
  EXPECT_EQ(CountOf(svg, "<circle"), 8u);
  EXPECT_NE(svg.find(">scan</text>"), std::string::npos);
  EXPECT_NE(svg.find(">check &quot;point&quot;</text>"), std::string::npos);
  EXPECT_NE(svg.find(">raw RocksDB</text>"), std::string::npos);
  EXPECT_NE(svg.find("Latency &lt;p50&gt; &amp; friends"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);  // the baseline is dashed
  // Decade ticks with readable labels on both axes, axis titles.
  for (const char* label : {">10k<", ">100k<", ">1M<", ">1 µs<", ">10 ms<", "devices (log scale)",
                            "latency (log scale)"}) {
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  }
}

TEST(SvgTest, LinearChartStartsAtZero) {
  Chart c;
  c.title = "Throughput against threads";
  c.x_label = "client threads";
  c.y_label = "operations per second";
  c.x_integer = true;
  c.series.push_back({"whole mix", {{1, 90000}, {2, 170000}, {4, 180000}}, false});
  const std::string svg = RenderSvg(c);
  std::string root;
  EXPECT_EQ(CheckXml(svg, &root), "");
  EXPECT_EQ(CountOf(svg, "<circle"), 3u);
  for (const char* label : {">0<", ">50k<", ">200k<", ">1<", ">2<", ">4<", "client threads<"}) {
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  }
  EXPECT_EQ(svg.find(">1.5<"), std::string::npos) << "threads are whole numbers";
  EXPECT_EQ(svg.find("log scale"), std::string::npos);
}

TEST(SvgTest, EmptyChartSaysSo) {
  Chart c;
  c.title = "nothing";
  c.log_x = true;
  c.series.push_back({"none", {{0, 1}, {-5, 2}}, false});  // nothing drawable on log x
  const std::string svg = RenderSvg(c);
  std::string root;
  EXPECT_EQ(CheckXml(svg, &root), "");
  EXPECT_NE(svg.find("no data"), std::string::npos);
}

TEST(SvgTest, TheCheckerRejectsBrokenDocuments) {
  std::string root;
  EXPECT_NE(CheckXml("<svg><g></svg>", &root), "");
  EXPECT_NE(CheckXml("<svg a=b></svg>", &root), "");
  EXPECT_NE(CheckXml("<svg>a & b</svg>", &root), "");
  EXPECT_NE(CheckXml("<svg></svg><svg></svg>", &root), "");
  EXPECT_EQ(CheckXml("<svg><g a=\"1\"/></svg>", &root), "");
}

TEST(SvgTest, Formats) {
  EXPECT_EQ(FormatCompact(1e4), "10k");
  EXPECT_EQ(FormatCompact(2.5e6), "2.5M");
  EXPECT_EQ(FormatCompact(12345), "12.3k");
  EXPECT_EQ(FormatCompact(0.25), "0.25");
  EXPECT_EQ(FormatMicros(0.5), "500 ns");
  EXPECT_EQ(FormatMicros(2500), "2.5 ms");
  EXPECT_EQ(FormatMicros(3e6), "3 s");
  EXPECT_EQ(XmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
}

}  // namespace
}  // namespace canopy::bench
