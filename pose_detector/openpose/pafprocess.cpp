// Part-affinity-field grouping (Cao et al., 2017) in C++: the same algorithm, step by step,
// as the NumPy reference pose_detector/openpose/paf.py (read its docstring for the rules).
// No global or static mutable state: every call owns its buffers, so calls are re-entrant
// and run in parallel threads; the GIL is released while grouping.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <vector>

namespace py = pybind11;

namespace {

constexpr int kParts = 18;
constexpr int kLimbs = 19;
constexpr int kRedundantLimbs = 2;
constexpr int kLimbParts[kLimbs][2] = {
    {1, 2}, {1, 5}, {2, 3}, {3, 4}, {5, 6}, {6, 7}, {1, 8}, {8, 9}, {9, 10}, {1, 11},
    {11, 12}, {12, 13}, {1, 0}, {0, 14}, {14, 16}, {0, 15}, {15, 17}, {2, 16}, {5, 17}};
constexpr int kLimbPaf[kLimbs][2] = {
    {12, 13}, {20, 21}, {14, 15}, {16, 17}, {22, 23}, {24, 25}, {0, 1}, {2, 3}, {4, 5}, {6, 7},
    {8, 9}, {10, 11}, {28, 29}, {30, 31}, {34, 35}, {32, 33}, {36, 37}, {18, 19}, {26, 27}};

struct Params {
  double peak_threshold, inter_threshold, inter_min_above, min_mean_score, smooth_sigma;
  int min_parts, samples;
};

struct Peak {
  double x, y, score;
};

struct Connection {
  int a, b;
  double score;
};

struct Person {
  std::array<int, kParts> parts;
  double score;
  int count;
};

std::vector<double> GaussianKernel(double sigma) {
  if (sigma <= 0) return {1.0};
  const int radius = std::max(1, static_cast<int>(std::ceil(3 * sigma)));
  std::vector<double> k(2 * radius + 1);
  double sum = 0;
  for (int i = -radius; i <= radius; ++i) {
    const double v = std::exp(-0.5 * (i / sigma) * (i / sigma));
    k[i + radius] = v;
    sum += v;
  }
  for (double& v : k) v /= sum;
  return k;
}

double Refine(double left, double centre, double right) {
  if (left <= 0 || right <= 0 || centre <= 0) return 0.0;
  const double ll = std::log(left), lc = std::log(centre), lr = std::log(right);
  const double curvature = ll - 2 * lc + lr;
  if (curvature >= 0) return 0.0;
  return std::min(0.5, std::max(-0.5, 0.5 * (ll - lr) / curvature));
}

double RefineEdge(double centre, double inner, double inner2) {
  if (centre <= 0 || inner <= 0 || inner2 <= 0) return 0.0;
  const double l0 = std::log(centre), l1 = std::log(inner), l2 = std::log(inner2);
  const double a = (l0 - 2 * l1 + l2) / 2, b = (-3 * l0 + 4 * l1 - l2) / 2;
  if (a >= 0) return 0.0;
  return std::min(0.5, std::max(-1.0, -b / (2 * a)));
}

// Sub-cell offset along one axis of the peak at index i of a line of n cells; value(j) reads
// the smoothed map at index j of that line.
template <typename Value>
double Offset(int i, int n, Value value) {
  if (i > 0 && i < n - 1) return Refine(value(i - 1), value(i), value(i + 1));
  if (n >= 3 && i == 0) return RefineEdge(value(0), value(1), value(2));
  if (n >= 3 && i == n - 1) return -RefineEdge(value(n - 1), value(n - 2), value(n - 3));
  return 0.0;
}

// The separable blur (border values repeated) of one map on the box [ey0, ey1] x [ex0, ex1]:
// a row pass on the rows the column pass reads, then the column pass; per cell the same
// additions in the same order as over the whole map. R: the radius when fixed at compile
// time (2, the radius at stride 8, so the taps unroll), -1 for any. taps: 2r + 1 pointers.
template <int R>
void SmoothBox(const float* raw, int h, int w, const double* k, int radius, int ey0, int ey1, int ex0,
               int ex1, double* __restrict rows, double* __restrict m, const double** taps) {
  const int r = R >= 0 ? R : radius;
  for (int y = std::max(0, ey0 - r); y <= std::min(h - 1, ey1 + r); ++y) {
    const float* src = raw + static_cast<size_t>(y) * w;
    double* dst = rows + static_cast<size_t>(y) * w;
    for (int x = ex0; x <= ex1; ++x) {
      double acc = 0;
      if (x >= r && x < w - r) {
        for (int s = -r; s <= r; ++s) acc += k[s] * src[x + s];
      } else {
        for (int s = -r; s <= r; ++s) acc += k[s] * src[std::min(w - 1, std::max(0, x + s))];
      }
      dst[x] = acc;
    }
  }
  for (int y = ey0; y <= ey1; ++y) {
    for (int t = -r; t <= r; ++t) taps[t + r] = rows + static_cast<size_t>(std::min(h - 1, std::max(0, y + t))) * w;
    double* dst = m + static_cast<size_t>(y) * w;
    for (int x = ex0; x <= ex1; ++x) {
      double acc = 0;
      for (int t = -r; t <= r; ++t) acc += k[t] * taps[t + r][x];
      dst[x] = acc;
    }
  }
}

// Peaks of every part. The kernel is normalised and non-negative, so a smoothed value above
// the threshold needs a raw value above it within the kernel's radius r: the map is smoothed
// only on the box around the raw values above the threshold, grown by r (where peaks can be)
// and 2 more cells (their neighbours, and the cells a border peak's refinement reads). Each
// smoothed value is the full-map separable blur's (border values repeated), computed in the
// same order, so equal to the NumPy reference's.
void FindPeaks(const float* heat, int h, int w, double stride, const Params& p,
               std::vector<std::vector<Peak>>& peaks) {
  const std::vector<double> kernel = GaussianKernel(p.smooth_sigma / stride);
  const int r = static_cast<int>(kernel.size()) / 2;
  const double* k = kernel.data() + r;
  // Scratch planes, uninitialised: only cells written for the current part are read.
  std::unique_ptr<double[]> rows_plane(new double[static_cast<size_t>(h) * w]);
  std::unique_ptr<double[]> smooth_plane(new double[static_cast<size_t>(h) * w]);
  double* __restrict rows = rows_plane.get();
  double* __restrict m = smooth_plane.get();
  std::vector<const double*> taps(2 * r + 1);
  // The raw scan compares floats (vectorised), against the largest float not above the
  // threshold: it may let a few more cells through, never fewer.
  float threshold = static_cast<float>(p.peak_threshold);
  if (static_cast<double>(threshold) > p.peak_threshold) threshold = std::nextafter(threshold, -1e30f);
  peaks.assign(kParts, {});
  for (int part = 0; part < kParts; ++part) {
    const float* raw = heat + static_cast<size_t>(part) * h * w;
    int y0 = h, y1 = -1, x0 = w, x1 = -1;
    for (int y = 0; y < h; ++y) {
      const float* row = raw + static_cast<size_t>(y) * w;
      int above = 0;  // a branch-free count the compiler vectorises: most rows hold nothing
      for (int x = 0; x < w; ++x) above += row[x] > threshold;
      if (above == 0) continue;
      y0 = std::min(y0, y);
      y1 = y;
      int first = 0, last = w - 1;
      while (!(row[first] > threshold)) ++first;
      while (!(row[last] > threshold)) --last;
      x0 = std::min(x0, first);
      x1 = std::max(x1, last);
    }
    if (y1 < 0) continue;
    // b: where peaks can be; e: where smoothed values are read (b's neighbours, and two
    // cells in from a border, which a peak on the border reads).
    const int by0 = std::max(0, y0 - r), by1 = std::min(h - 1, y1 + r);
    const int bx0 = std::max(0, x0 - r), bx1 = std::min(w - 1, x1 + r);
    const int ey0 = by0 == h - 1 ? std::max(0, h - 3) : std::max(0, by0 - 1);
    const int ey1 = by1 == 0 ? std::min(h - 1, 2) : std::min(h - 1, by1 + 1);
    const int ex0 = bx0 == w - 1 ? std::max(0, w - 3) : std::max(0, bx0 - 1);
    const int ex1 = bx1 == 0 ? std::min(w - 1, 2) : std::min(w - 1, bx1 + 1);
    if (r == 2)
      SmoothBox<2>(raw, h, w, k, r, ey0, ey1, ex0, ex1, rows, m, taps.data());
    else
      SmoothBox<-1>(raw, h, w, k, r, ey0, ey1, ex0, ex1, rows, m, taps.data());
    auto at = [&](int y, int x) { return (x < 0 || y < 0 || x >= w || y >= h) ? 0.0 : m[y * w + x]; };
    for (int y = by0; y <= by1; ++y)
      for (int x = bx0; x <= bx1; ++x) {
        const double c = m[y * w + x];
        if (!(c > p.peak_threshold) || c < at(y, x - 1) || c < at(y, x + 1) || c < at(y - 1, x) ||
            c < at(y + 1, x))
          continue;
        const double dx = Offset(x, w, [&](int j) { return m[y * w + j]; });
        const double dy = Offset(y, h, [&](int j) { return m[j * w + x]; });
        peaks[part].push_back({x + dx, y + dy, static_cast<double>(raw[y * w + x])});
      }
  }
}

double Bilinear(const float* c, int h, int w, double x, double y) {
  x = std::min(static_cast<double>(w - 1), std::max(0.0, x));
  y = std::min(static_cast<double>(h - 1), std::max(0.0, y));
  const int x0 = w > 1 ? std::min(static_cast<int>(std::floor(x)), w - 2) : 0;
  const int y0 = h > 1 ? std::min(static_cast<int>(std::floor(y)), h - 2) : 0;
  const double fx = x - x0, fy = y - y0;
  const int x1 = std::min(x0 + 1, w - 1), y1 = std::min(y0 + 1, h - 1);
  return (c[y0 * w + x0] * (1 - fx) + c[y0 * w + x1] * fx) * (1 - fy) +
         (c[y1 * w + x0] * (1 - fx) + c[y1 * w + x1] * fx) * fy;
}

void ConnectLimb(const std::vector<Peak>& a, const std::vector<Peak>& b, const float* paf_x,
                 const float* paf_y, int h, int w, const Params& p, std::vector<Connection>& out) {
  out.clear();
  if (a.empty() || b.empty()) return;
  std::vector<Connection> candidates;
  const int n = p.samples;
  for (int i = 0; i < static_cast<int>(a.size()); ++i)
    for (int j = 0; j < static_cast<int>(b.size()); ++j) {
      const double dx = b[j].x - a[i].x, dy = b[j].y - a[i].y;
      const double norm = std::hypot(dx, dy);
      if (norm < 1e-9) continue;
      const double ux = dx / norm, uy = dy / norm;
      double sum = 0;
      int above = 0, s = 0;
      for (; s < n; ++s) {
        const double t = n > 1 ? static_cast<double>(s) / (n - 1) : 0.0;
        const double x = a[i].x + t * dx, y = a[i].y + t * dy;
        const double v = Bilinear(paf_x, h, w, x, y) * ux + Bilinear(paf_y, h, w, x, y) * uy;
        sum += v;
        above += v > p.inter_threshold;
        // Stop once too few samples are left to reach the fraction: the pair is rejected
        // whatever they hold (most pairs between two people end at their first samples).
        if (static_cast<double>(above + n - 1 - s) / n <= p.inter_min_above) break;
      }
      if (s < n) continue;
      const double score = sum / n + std::min(0.5 * h / norm - 1.0, 0.0);
      if (static_cast<double>(above) / n > p.inter_min_above && score > 0)
        candidates.push_back({i, j, score});
    }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Connection& l, const Connection& r) { return l.score > r.score; });
  std::vector<char> used_a(a.size(), 0), used_b(b.size(), 0);
  const size_t most = std::min(a.size(), b.size());
  for (const Connection& c : candidates) {
    if (used_a[c.a] || used_b[c.b]) continue;
    used_a[c.a] = used_b[c.b] = 1;
    out.push_back(c);
    if (out.size() == most) break;
  }
}

struct Result {
  std::vector<std::array<float, kParts * 3>> people;
  std::vector<float> scores;
};

Result Decode(const float* heat, const float* paf, int h, int w, double stride, const Params& p) {
  std::vector<std::vector<Peak>> peaks;
  FindPeaks(heat, h, w, stride, p, peaks);
  std::vector<int> first_id(kParts + 1, 0);
  std::vector<Peak> all;
  for (int part = 0; part < kParts; ++part) {
    first_id[part + 1] = first_id[part] + static_cast<int>(peaks[part].size());
    all.insert(all.end(), peaks[part].begin(), peaks[part].end());
  }
  std::vector<Person> people;
  std::vector<Connection> connections;
  const size_t plane = static_cast<size_t>(h) * w;
  for (int k = 0; k < kLimbs; ++k) {
    const int pa = kLimbParts[k][0], pb = kLimbParts[k][1];
    ConnectLimb(peaks[pa], peaks[pb], paf + kLimbPaf[k][0] * plane, paf + kLimbPaf[k][1] * plane, h, w,
                p, connections);
    for (const Connection& c : connections) {
      const int ida = first_id[pa] + c.a, idb = first_id[pb] + c.b;
      int found[2] = {-1, -1}, nfound = 0;
      for (int q = 0; q < static_cast<int>(people.size()) && nfound < 2; ++q)
        if (people[q].parts[pa] == ida || people[q].parts[pb] == idb) found[nfound++] = q;
      bool disjoint = false;
      if (nfound == 2) {
        disjoint = true;
        for (int part = 0; part < kParts; ++part)
          if (people[found[0]].parts[part] >= 0 && people[found[1]].parts[part] >= 0) disjoint = false;
      }
      if (disjoint) {
        Person& keep = people[found[0]];
        const Person& gone = people[found[1]];
        for (int part = 0; part < kParts; ++part)
          if (keep.parts[part] < 0) keep.parts[part] = gone.parts[part];
        keep.score += gone.score + c.score;
        keep.count += gone.count;
        people.erase(people.begin() + found[1]);
      } else if (nfound > 0) {
        Person& person = people[found[0]];
        if (person.parts[pb] < 0) {
          person.parts[pb] = idb;
          person.count += 1;
          person.score += all[idb].score + c.score;
        }
      } else if (k < kLimbs - kRedundantLimbs) {
        Person person;
        person.parts.fill(-1);
        person.parts[pa] = ida;
        person.parts[pb] = idb;
        person.score = all[ida].score + all[idb].score + c.score;
        person.count = 2;
        people.push_back(person);
      }
    }
  }
  Result result;
  for (const Person& person : people) {
    if (person.count < p.min_parts || person.score / person.count < p.min_mean_score) continue;
    std::array<float, kParts * 3> out{};
    for (int part = 0; part < kParts; ++part) {
      const int id = person.parts[part];
      if (id < 0) continue;
      out[part * 3 + 0] = static_cast<float>((all[id].x + 0.5) * stride - 0.5);
      out[part * 3 + 1] = static_cast<float>((all[id].y + 0.5) * stride - 0.5);
      out[part * 3 + 2] = static_cast<float>(all[id].score);
    }
    result.people.push_back(out);
    result.scores.push_back(static_cast<float>(person.score / person.count));
  }
  return result;
}

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

py::tuple PyDecode(FloatArray heatmaps, FloatArray pafs, double stride, double peak_threshold,
                   double inter_threshold, double inter_min_above, int min_parts, double min_mean_score,
                   int samples, double smooth_sigma) {
  if (heatmaps.ndim() != 3 || heatmaps.shape(0) < kParts)
    throw py::value_error("heatmaps must be (19, h, w)");
  const int h = static_cast<int>(heatmaps.shape(1)), w = static_cast<int>(heatmaps.shape(2));
  if (pafs.ndim() != 3 || pafs.shape(0) != 2 * kLimbs || pafs.shape(1) != h || pafs.shape(2) != w)
    throw py::value_error("pafs must be (38, h, w) with the heatmaps' h and w");
  if (samples < 1) throw py::value_error("samples must be at least 1");
  const Params p{peak_threshold, inter_threshold, inter_min_above, min_mean_score, smooth_sigma,
                 min_parts, samples};
  const float* heat = heatmaps.data();
  const float* paf = pafs.data();
  Result result;
  {
    py::gil_scoped_release release;
    result = Decode(heat, paf, h, w, stride, p);
  }
  const py::ssize_t n = static_cast<py::ssize_t>(result.people.size());
  py::array_t<float> people({n, static_cast<py::ssize_t>(kParts), static_cast<py::ssize_t>(3)});
  py::array_t<float> scores(n);
  float* dst = people.mutable_data();
  for (py::ssize_t i = 0; i < n; ++i) {
    std::copy(result.people[i].begin(), result.people[i].end(), dst + i * kParts * 3);
    scores.mutable_data()[i] = result.scores[i];
  }
  return py::make_tuple(people, scores);
}

}  // namespace

PYBIND11_MODULE(_pafprocess, m) {
  m.doc() = "C++ part-affinity-field grouping; see pose_detector.openpose.paf for the algorithm.";
  m.def("decode", &PyDecode, py::arg("heatmaps"), py::arg("pafs"), py::arg("stride"),
        py::arg("peak_threshold"), py::arg("inter_threshold"), py::arg("inter_min_above"),
        py::arg("min_parts"), py::arg("min_mean_score"), py::arg("samples"), py::arg("smooth_sigma"),
        "(people (P, 18, 3) float32, scores (P,) float32) of one image's maps.");
}
