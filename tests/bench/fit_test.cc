// Copyright (c) Canopy authors.
//
// Growth fits: synthetic costs of known growth give the right exponent and
// the right plain-words class.

#include "bench/harness/fit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace canopy::bench {
namespace {

const std::vector<double> kSizes = {1e4, 1e5, 1e6};

PowerFit FitOf(double (*cost)(double), const std::vector<double>& sizes = kSizes) {
  std::vector<double> y;
  for (double x : sizes) y.push_back(cost(x));
  return FitPowerLaw(sizes, y);
}

TEST(FitTest, ConstantCostIsFlat) {
  PowerFit f = FitOf([](double) { return 5.0; });
  ASSERT_TRUE(f.ok);
  EXPECT_NEAR(f.exponent, 0, 1e-9);
  EXPECT_NEAR(f.coefficient, 5, 1e-9);
  EXPECT_EQ(f.growth, "flat (O(1)-like)");
  EXPECT_DOUBLE_EQ(f.r2, 1);
  EXPECT_NEAR(f.Predict(1e9), 5, 1e-6);
}

TEST(FitTest, LogarithmicCostIsLogN) {
  PowerFit f = FitOf([](double x) { return 3.0 * std::log(x); });
  ASSERT_TRUE(f.ok);
  EXPECT_NEAR(f.exponent, 0.088, 0.005);  // ln(ln 1e6 / ln 1e4) / ln 100
  EXPECT_EQ(f.growth, "~log n");
}

TEST(FitTest, LinearCostIsLinear) {
  PowerFit f = FitOf([](double x) { return 2.0 * x; });
  ASSERT_TRUE(f.ok);
  EXPECT_NEAR(f.exponent, 1, 1e-9);
  EXPECT_NEAR(f.coefficient, 2, 1e-6);
  EXPECT_NEAR(f.Predict(5e7), 1e8, 1);
  EXPECT_EQ(f.growth, "linear");
  EXPECT_NEAR(f.r2, 1, 1e-12);
}

TEST(FitTest, NLogNAndQuadratic) {
  EXPECT_EQ(FitOf([](double x) { return x * std::log(x); }).growth, "~n log n");
  PowerFit q = FitOf([](double x) { return 1e-3 * x * x; });
  EXPECT_NEAR(q.exponent, 2, 1e-9);
  EXPECT_EQ(q.growth, "quadratic");
}

TEST(FitTest, ExponentsBetweenClassesAreNamedWithTheirValue) {
  EXPECT_EQ(FitOf([](double x) { return std::sqrt(x); }).growth, "sublinear (~n^0.50)");
  EXPECT_EQ(FitOf([](double x) { return std::pow(x, 1.5); }).growth, "superlinear (~n^1.50)");
  EXPECT_EQ(FitOf([](double x) { return 1.0 / std::sqrt(x); }).growth, "decreasing (~n^-0.50)");
}

TEST(FitTest, NoisyLinearDataStillFitsNearOne) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> noise(0.95, 1.05);
  std::vector<double> x, y;
  for (double s = 1e3; s <= 1e7; s *= 3) {
    x.push_back(s);
    y.push_back(7 * s * noise(rng));
  }
  PowerFit f = FitPowerLaw(x, y);
  ASSERT_TRUE(f.ok);
  EXPECT_NEAR(f.exponent, 1, 0.03);
  EXPECT_GT(f.r2, 0.99);
  EXPECT_EQ(f.growth, "linear");
  EXPECT_EQ(f.points, x.size());
}

TEST(FitTest, TooFewUsablePointsIsNotAFit) {
  EXPECT_FALSE(FitPowerLaw({1e4}, {3}).ok);
  EXPECT_FALSE(FitPowerLaw({1e4, 1e4}, {3, 4}).ok);  // one distinct size
  EXPECT_FALSE(FitPowerLaw({1e4, 1e5}, {3, 0}).ok);  // a cost of zero is skipped
  EXPECT_EQ(FitPowerLaw({1e4, 1e5}, {3, 0}).points, 1u);
  EXPECT_EQ(PowerFit().Predict(10), 0);
  PowerFit two = FitPowerLaw({-1, 1e4, 1e5}, {9, 3, 30});  // negative size skipped
  ASSERT_TRUE(two.ok);
  EXPECT_NEAR(two.exponent, 1, 1e-9);
}

TEST(FitTest, ModelExponentsDependOnTheRange) {
  // log n looks flatter over a wider, larger range.
  const double narrow = ModelExponent({1e2, 1e3}, [](double x) { return std::log(x); });
  const double wide = ModelExponent({1e6, 1e9}, [](double x) { return std::log(x); });
  EXPECT_GT(narrow, wide);
  EXPECT_NEAR(narrow, std::log(3.0 / 2.0) / std::log(10.0), 1e-9);
}

TEST(FitTest, LinearFitSeparatesTheFixedPart) {
  // 1 MB of fixed overhead plus 50 bytes per device: a power law fitted at
  // small sizes would call this sublinear; the linear fit finds both parts.
  std::vector<double> x = {500, 2000, 1e4}, y;
  for (double d : x) y.push_back(1e6 + 50 * d);
  LinearFit f = FitLinear(x, y);
  ASSERT_TRUE(f.ok);
  EXPECT_NEAR(f.intercept, 1e6, 1e-3);
  EXPECT_NEAR(f.slope, 50, 1e-9);
  EXPECT_NEAR(f.Predict(1e8), 1e6 + 5e9, 1);
  EXPECT_NEAR(f.r2, 1, 1e-12);
  EXPECT_LT(FitPowerLaw(x, y).exponent, 0.5);
  EXPECT_FALSE(FitLinear({3}, {4}).ok);
}

}  // namespace
}  // namespace canopy::bench
