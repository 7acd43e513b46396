// svg.h: the pictures examples draw, written as plain SVG text (any browser shows them, and
// tests parse them as XML): labelled heatmaps for attention weights, line plots for loss
// curves, and scatter plots over a shaded grid for decision boundaries.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace examples {

// A colour from a dark-blue-to-yellow ramp (close to viridis) for t in [0, 1].
inline std::string ramp_color(double t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0);
  // Five anchor colours of viridis, interpolated linearly.
  static const double anchors[5][3] = {
      {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  const double x = t * 4.0;
  const int i = std::min(3, static_cast<int>(x));
  const double f = x - i;
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x",
                static_cast<int>(anchors[i][0] + f * (anchors[i + 1][0] - anchors[i][0])),
                static_cast<int>(anchors[i][1] + f * (anchors[i + 1][1] - anchors[i][1])),
                static_cast<int>(anchors[i][2] + f * (anchors[i + 1][2] - anchors[i][2])));
  return buf;
}

inline std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

class Svg {
 public:
  Svg(double width, double height) : width_(width), height_(height) {}

  void rect(double x, double y, double w, double h, const std::string& fill,
            const std::string& extra = "") {
    body_ << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << w << "\" height=\"" << h
          << "\" fill=\"" << fill << "\"" << (extra.empty() ? "" : " " + extra) << "/>\n";
  }
  void text(double x, double y, const std::string& s, double size = 11,
            const std::string& anchor = "middle", const std::string& extra = "") {
    body_ << "<text x=\"" << x << "\" y=\"" << y << "\" font-size=\"" << size
          << "\" font-family=\"monospace\" text-anchor=\"" << anchor << "\""
          << (extra.empty() ? "" : " " + extra) << ">" << xml_escape(s) << "</text>\n";
  }
  void line(double x1, double y1, double x2, double y2, const std::string& stroke,
            double width = 1) {
    body_ << "<line x1=\"" << x1 << "\" y1=\"" << y1 << "\" x2=\"" << x2 << "\" y2=\"" << y2
          << "\" stroke=\"" << stroke << "\" stroke-width=\"" << width << "\"/>\n";
  }
  void polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke,
                double width = 1.5) {
    body_ << "<polyline fill=\"none\" stroke=\"" << stroke << "\" stroke-width=\"" << width
          << "\" points=\"";
    for (const auto& [x, y] : points) body_ << x << "," << y << " ";
    body_ << "\"/>\n";
  }
  void circle(double x, double y, double r, const std::string& fill,
              const std::string& stroke = "none") {
    body_ << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"" << r << "\" fill=\"" << fill
          << "\" stroke=\"" << stroke << "\"/>\n";
  }

  std::string str() const {
    std::ostringstream os;
    os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
       << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width_ << "\" height=\""
       << height_ << "\" viewBox=\"0 0 " << width_ << " " << height_ << "\">\n"
       << "<rect x=\"0\" y=\"0\" width=\"" << width_ << "\" height=\"" << height_
       << "\" fill=\"white\"/>\n"
       << body_.str() << "</svg>\n";
    return os.str();
  }

  // Writes the file; returns false (and says so on stderr) when it cannot.
  bool save(const std::string& path) const {
    std::ofstream out(path);
    out << str();
    if (!out) {
      std::fprintf(stderr, "could not write %s\n", path.c_str());
      return false;
    }
    return true;
  }

 private:
  double width_, height_;
  std::ostringstream body_;
};

// One heatmap: values (rows x cols, row-major, in [0, 1]) drawn at (x0, y0), with row labels
// on the left, column labels on top and a title. Each cell is a <rect class="cell">, so tests
// can count them.
inline void draw_heatmap(Svg& svg, double x0, double y0, double cell,
                         const std::vector<double>& values, int64_t rows, int64_t cols,
                         const std::vector<std::string>& row_labels,
                         const std::vector<std::string>& col_labels, const std::string& title) {
  svg.text(x0 + cell * static_cast<double>(cols) / 2, y0 - 22, title, 12);
  for (int64_t c = 0; c < cols && c < static_cast<int64_t>(col_labels.size()); ++c)
    svg.text(x0 + cell * (static_cast<double>(c) + 0.5), y0 - 5, col_labels[c], 9);
  for (int64_t r = 0; r < rows; ++r) {
    if (r < static_cast<int64_t>(row_labels.size()))
      svg.text(x0 - 4, y0 + cell * (static_cast<double>(r) + 0.7), row_labels[r], 9, "end");
    for (int64_t c = 0; c < cols; ++c) {
      const double v = values[static_cast<size_t>(r * cols + c)];
      char title_attr[64];
      std::snprintf(title_attr, sizeof title_attr, "class=\"cell\" data-value=\"%.4f\"", v);
      svg.rect(x0 + cell * static_cast<double>(c), y0 + cell * static_cast<double>(r), cell, cell,
               ramp_color(v), title_attr);
    }
  }
}

// A vertical colour bar from 0 (bottom) to 1 (top) with its two end labels.
inline void draw_color_scale(Svg& svg, double x, double y, double height,
                             const std::string& low = "0", const std::string& high = "1") {
  const int steps = 32;
  for (int i = 0; i < steps; ++i)
    svg.rect(x, y + height * i / steps, 12, height / steps + 0.5,
             ramp_color(1.0 - static_cast<double>(i) / (steps - 1)));
  svg.text(x + 16, y + 8, high, 9, "start");
  svg.text(x + 16, y + height, low, 9, "start");
}

struct Series {
  std::string name, color;
  std::vector<std::pair<double, double>> points;  // (x, y)
};

// A line plot of several series with axes, ticks and a legend.
inline Svg line_plot(const std::vector<Series>& series, const std::string& title,
                     const std::string& x_label, const std::string& y_label) {
  const double W = 640, H = 400, left = 60, right = 20, top = 40, bottom = 50;
  Svg svg(W, H);
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
  for (const auto& s : series)
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(y)) continue;
      x_min = std::min(x_min, x); x_max = std::max(x_max, x);
      y_min = std::min(y_min, y); y_max = std::max(y_max, y);
    }
  if (!(x_max > x_min)) { x_min = 0; x_max = std::max(1.0, x_max); }
  if (!(y_max > y_min)) { y_min = std::isfinite(y_min) ? y_min - 1 : 0; y_max = y_min + 2; }
  auto px = [&](double x) { return left + (x - x_min) / (x_max - x_min) * (W - left - right); };
  auto py = [&](double y) { return H - bottom - (y - y_min) / (y_max - y_min) * (H - top - bottom); };
  svg.text(W / 2, 22, title, 14);
  svg.line(left, H - bottom, W - right, H - bottom, "black");
  svg.line(left, top, left, H - bottom, "black");
  for (int i = 0; i <= 4; ++i) {
    const double yv = y_min + (y_max - y_min) * i / 4, xv = x_min + (x_max - x_min) * i / 4;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", yv);
    svg.text(left - 6, py(yv) + 4, buf, 10, "end");
    svg.line(left, py(yv), W - right, py(yv), "#dddddd", 0.5);
    std::snprintf(buf, sizeof buf, "%.4g", xv);
    svg.text(px(xv), H - bottom + 16, buf, 10);
  }
  svg.text(W / 2, H - 10, x_label, 11);
  svg.text(14, H / 2, y_label, 11, "middle", "transform=\"rotate(-90 14 " + std::to_string(H / 2) + ")\"");
  double legend_y = top + 4;
  for (const auto& s : series) {
    std::vector<std::pair<double, double>> pts;
    for (const auto& [x, y] : s.points)
      if (std::isfinite(y)) pts.emplace_back(px(x), py(y));
    svg.polyline(pts, s.color);
    svg.line(W - right - 110, legend_y, W - right - 90, legend_y, s.color, 2);
    svg.text(W - right - 85, legend_y + 4, s.name, 10, "start");
    legend_y += 16;
  }
  return svg;
}

}  // namespace examples
