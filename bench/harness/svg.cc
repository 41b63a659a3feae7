// Copyright (c) Canopy authors.

#include "bench/harness/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace canopy::bench {

namespace {

// Colour-blind-friendly palette (Okabe-Ito without its pale yellow, which
// is unreadable on white, then a few darker extras).
const char* const kColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
                               "#56B4E9", "#000000", "#882255", "#8C564B", "#7F7F7F"};

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

std::string Trim(double v, const char* suffix) {
  char buf[32];
  if (std::fabs(v) >= 100 || v == std::floor(v)) {
    std::snprintf(buf, sizeof(buf), "%.0f%s", v, suffix);
  } else if (std::fabs(v) >= 10) {
    std::snprintf(buf, sizeof(buf), "%.1f%s", v, suffix);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2g%s", v, suffix);
  }
  return buf;
}

// One axis: its range in data units and the mapping to pixels.
struct Axis {
  bool log = false;
  double lo = 0, hi = 1;          // data range shown
  double pix_lo = 0, pix_hi = 1;  // pixels of lo and hi
  std::vector<double> major;      // labelled ticks
  std::vector<double> minor;      // short unlabelled ticks (log axes)

  double T(double v) const { return log ? std::log10(v) : v; }
  double Map(double v) const {
    return pix_lo + (T(v) - T(lo)) / (T(hi) - T(lo)) * (pix_hi - pix_lo);
  }
};

void LogTicks(double mn, double mx, Axis* a) {
  a->log = true;
  double dlo = std::floor(std::log10(mn));
  double dhi = std::ceil(std::log10(mx));
  if (dhi <= dlo) dhi = dlo + 1;
  a->lo = std::pow(10.0, dlo);
  a->hi = std::pow(10.0, dhi);
  const int decades = static_cast<int>(dhi - dlo);
  for (int d = 0; d <= decades; ++d) {
    const double base = std::pow(10.0, dlo + d);
    a->major.push_back(base);
    if (d == decades) break;
    for (int m = 2; m <= 9; ++m) {
      // With few decades the 2 and 5 multiples get labels too.
      if (decades <= 2 && (m == 2 || m == 5)) {
        a->major.push_back(base * m);
      } else if (decades <= 8) {
        a->minor.push_back(base * m);
      }
    }
  }
  std::sort(a->major.begin(), a->major.end());
}

void LinearTicks(double mn, double mx, bool from_zero, bool integer, Axis* a) {
  if (from_zero) mn = std::min(0.0, mn);
  if (mx <= mn) mx = mn + 1;
  const double raw = std::max((mx - mn) / 6, integer ? 1.0 : 0.0);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  a->lo = std::floor(mn / step) * step;
  a->hi = std::ceil(mx / step) * step;
  const int n = static_cast<int>(std::lround((a->hi - a->lo) / step));
  for (int k = 0; k <= n; ++k) a->major.push_back(a->lo + k * step);
}

}  // namespace

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string FormatCompact(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return Trim(v / 1e9, "G");
  if (a >= 1e6) return Trim(v / 1e6, "M");
  if (a >= 1e3) return Trim(v / 1e3, "k");
  return Trim(v, "");
}

std::string FormatMicros(double us) {
  const double a = std::fabs(us);
  if (a >= 1e6) return Trim(us / 1e6, " s");
  if (a >= 1e3) return Trim(us / 1e3, " ms");
  if (a >= 1 || a == 0) return Trim(us, " µs");
  return Trim(us * 1e3, " ns");
}

std::string RenderSvg(const Chart& chart) {
  const int w = chart.width, h = chart.height;
  const double left = 90, right = 230, top = 56, bottom = 70;
  auto fx = chart.format_x ? chart.format_x : FormatCompact;
  auto fy = chart.format_y ? chart.format_y : FormatCompact;

  // The points each axis can show.
  double xmn = std::numeric_limits<double>::infinity(), xmx = -xmn, ymn = xmn, ymx = -xmn;
  size_t shown = 0;
  auto visible = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!chart.log_x || x > 0) &&
           (!chart.log_y || y > 0);
  };
  for (const ChartSeries& s : chart.series) {
    for (auto [x, y] : s.points) {
      if (!visible(x, y)) continue;
      xmn = std::min(xmn, x), xmx = std::max(xmx, x);
      ymn = std::min(ymn, y), ymx = std::max(ymx, y);
      ++shown;
    }
  }
  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
    << "\" viewBox=\"0 0 " << w << ' ' << h << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect x=\"0\" y=\"0\" width=\"" << w << "\" height=\"" << h << "\" fill=\"white\"/>\n"
    << "<text x=\"" << w / 2 << "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" "
    << "font-weight=\"bold\">" << XmlEscape(chart.title) << "</text>\n";
  if (shown == 0) {
    o << "<text x=\"" << w / 2 << "\" y=\"" << h / 2
      << "\" text-anchor=\"middle\" fill=\"#666\">no data</text>\n</svg>\n";
    return o.str();
  }
  Axis ax, ay;
  if (chart.log_x) {
    LogTicks(xmn, xmx, &ax);
  } else {
    LinearTicks(xmn, xmx, false, chart.x_integer, &ax);
  }
  if (chart.log_y) {
    LogTicks(ymn, ymx, &ay);
  } else {
    LinearTicks(ymn, ymx, chart.y_from_zero, false, &ay);
  }
  ax.pix_lo = left, ax.pix_hi = w - right;
  ay.pix_lo = h - bottom, ay.pix_hi = top;

  // Grid, ticks and tick labels.
  o << "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
  for (double v : ax.major) {
    o << "<line x1=\"" << Num(ax.Map(v)) << "\" y1=\"" << top << "\" x2=\"" << Num(ax.Map(v))
      << "\" y2=\"" << h - bottom << "\"/>\n";
  }
  for (double v : ay.major) {
    o << "<line x1=\"" << left << "\" y1=\"" << Num(ay.Map(v)) << "\" x2=\"" << w - right
      << "\" y2=\"" << Num(ay.Map(v)) << "\"/>\n";
  }
  o << "</g>\n<g stroke=\"#333\" stroke-width=\"1\">\n";
  o << "<line x1=\"" << left << "\" y1=\"" << h - bottom << "\" x2=\"" << w - right << "\" y2=\""
    << h - bottom << "\"/>\n";
  o << "<line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left << "\" y2=\"" << h - bottom
    << "\"/>\n";
  for (double v : ax.major) {
    o << "<line x1=\"" << Num(ax.Map(v)) << "\" y1=\"" << h - bottom << "\" x2=\"" << Num(ax.Map(v))
      << "\" y2=\"" << h - bottom + 6 << "\"/>\n";
  }
  for (double v : ax.minor) {
    o << "<line x1=\"" << Num(ax.Map(v)) << "\" y1=\"" << h - bottom << "\" x2=\"" << Num(ax.Map(v))
      << "\" y2=\"" << h - bottom + 3 << "\"/>\n";
  }
  for (double v : ay.major) {
    o << "<line x1=\"" << left - 6 << "\" y1=\"" << Num(ay.Map(v)) << "\" x2=\"" << left
      << "\" y2=\"" << Num(ay.Map(v)) << "\"/>\n";
  }
  for (double v : ay.minor) {
    o << "<line x1=\"" << left - 3 << "\" y1=\"" << Num(ay.Map(v)) << "\" x2=\"" << left
      << "\" y2=\"" << Num(ay.Map(v)) << "\"/>\n";
  }
  o << "</g>\n<g fill=\"#333\">\n";
  for (double v : ax.major) {
    o << "<text x=\"" << Num(ax.Map(v)) << "\" y=\"" << h - bottom + 20
      << "\" text-anchor=\"middle\">" << XmlEscape(fx(v)) << "</text>\n";
  }
  for (double v : ay.major) {
    o << "<text x=\"" << left - 10 << "\" y=\"" << Num(ay.Map(v) + 4) << "\" text-anchor=\"end\">"
      << XmlEscape(fy(v)) << "</text>\n";
  }
  o << "<text x=\"" << Num((left + w - right) / 2) << "\" y=\"" << h - 22
    << "\" text-anchor=\"middle\" font-size=\"13\">"
    << XmlEscape(chart.x_label + (chart.log_x ? " (log scale)" : "")) << "</text>\n";
  o << "<text transform=\"translate(22," << Num((top + h - bottom) / 2)
    << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">"
    << XmlEscape(chart.y_label + (chart.log_y ? " (log scale)" : "")) << "</text>\n</g>\n";

  // Series: polyline, markers with tooltips, legend entry.
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& s = chart.series[i];
    const char* color = kColors[i % (sizeof(kColors) / sizeof(kColors[0]))];
    std::vector<std::pair<double, double>> pts;
    for (auto p : s.points) {
      if (visible(p.first, p.second)) pts.push_back(p);
    }
    std::sort(pts.begin(), pts.end());
    o << "<g class=\"series\" data-name=\"" << XmlEscape(s.name) << "\">\n";
    o << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\""
      << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << " points=\"";
    for (size_t k = 0; k < pts.size(); ++k) {
      o << (k ? " " : "") << Num(ax.Map(pts[k].first)) << ',' << Num(ay.Map(pts[k].second));
    }
    o << "\"/>\n";
    for (auto [x, y] : pts) {
      o << "<circle cx=\"" << Num(ax.Map(x)) << "\" cy=\"" << Num(ay.Map(y))
        << "\" r=\"3.5\" fill=\"" << color << "\"><title>"
        << XmlEscape(s.name + ": " + fx(x) + ", " + fy(y)) << "</title></circle>\n";
    }
    const double ly = top + 10 + 20 * static_cast<double>(i);
    const double lx = w - right + 16;
    o << "<line x1=\"" << Num(lx) << "\" y1=\"" << Num(ly) << "\" x2=\"" << Num(lx + 24)
      << "\" y2=\"" << Num(ly) << "\" stroke=\"" << color << "\" stroke-width=\"2\""
      << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << "/>\n";
    o << "<text x=\"" << Num(lx + 30) << "\" y=\"" << Num(ly + 4) << "\">" << XmlEscape(s.name)
      << "</text>\n</g>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace canopy::bench
