import ModelFool
import TestSupport
import Testing

/// Fooling losses and statistics on hand-made heatmaps with known values.
@Suite("Fooling losses and statistics")
struct FoolingLossTests {
  @Test func perfectFrameHasZeroLocationLoss() {
    let mask = FoolingLoss.frameMask(height: 14, width: 14)
    // k = 14 / 7 = 2: rows and columns 0, 1, 12, 13 are frame.
    #expect(mask.scalars.filter { $0 == 1 }.count == 14 * 14 - 10 * 10)
    let h = mask.reshaped([1, 14, 14]).expand(to: [3, 14, 14])
    #expect(FoolingLoss.location(h).scalar == 0)
    #expect(FoolingStatistics.location(h) == [0, 0, 0])
    // The opposite map (1 inside, 0 on the frame) is wrong everywhere: loss 1.
    #expect(FoolingLoss.location(1 - h).scalar == 1)
  }

  @Test func centreOfMassOfOneHotPixel() {
    var v = [Float](repeating: 0, count: 7 * 7)
    v[2 * 7 + 5] = 1  // row 2, column 5 (0-based) -> coordinates (3, 6)
    let c = FoolingLoss.centerOfMass(Tensor(shape: [1, 7, 7], scalars: v)).scalars
    #expect(abs(c[0] - 3) < 1e-5 && abs(c[1] - 6) < 1e-5)
  }

  @Test func blankMapsAreNotFooled() {
    let blank = Tensor.zeros([1, 7, 7])
    let c = FoolingLoss.centerOfMass(blank).scalars
    #expect(abs(c[0] - 4) < 1e-5 && abs(c[1] - 4) < 1e-5)
    var v = [Float](repeating: 0, count: 49)
    v[24] = 1  // the centre pixel (4, 4)
    let centred = Tensor(shape: [1, 7, 7], scalars: v)
    #expect(FoolingStatistics.centerMass(original: centred, fooled: blank)[0] < 1e-5)
    #expect(FoolingStatistics.topK(original: centred, fooled: blank) == [1])
  }

  @Test func centerMassStatisticAndLoss() {
    var a = [Float](repeating: 0, count: 49), b = a
    a[0] = 1  // (1, 1)
    b[48] = 1  // (7, 7)
    let ta = Tensor(shape: [1, 7, 7], scalars: a), tb = Tensor(shape: [1, 7, 7], scalars: b)
    // Distance sqrt((6^2 + 6^2) / 2) / (7 - 1) = 1.
    #expect(abs(FoolingStatistics.centerMass(original: ta, fooled: tb)[0] - 1) < 1e-5)
    #expect(abs(FoolingLoss.centerMass(tb, reference: ta).scalar + 12) < 1e-4)
    // Capped at 0.3 (W - 1) = 1.8 pixels of |dC_h| + |dC_w|.
    #expect(abs(FoolingLoss.centerMass(tb, reference: ta, cap: 0.3).scalar + 1.8) < 1e-4)
  }

  @Test func blankMapsEarnNoCenterMassLoss() {
    // Original mass at (1, 1): a blank fooled map keeps that centre in the loss (shift 0), and the
    // statistic scores any constant map 0 although the image centre (4, 4) lies 3 pixels away.
    var a = [Float](repeating: 0, count: 49)
    a[0] = 1
    let ta = Tensor(shape: [1, 7, 7], scalars: a), blank = Tensor.zeros([1, 7, 7])
    #expect(abs(FoolingLoss.centerMass(blank, reference: ta).scalar) < 1e-5)
    #expect(FoolingStatistics.centerMass(original: ta, fooled: blank) == [0])
    #expect(FoolingStatistics.centerMass(original: ta, fooled: Tensor(repeating: 0.5, shape: [1, 7, 7])) == [0])
    // The prior location: an all-zero map sits at the given point.
    let c = FoolingLoss.centerOfMass(blank, prior: Tensor(shape: [1, 2], scalars: [2, 6])).scalars
    #expect(abs(c[0] - 2) < 1e-4 && abs(c[1] - 6) < 1e-4)
  }

  @Test func topKLossAndOverlap() {
    // 10 pixels: top 10% is one pixel, the largest of the reference (index 3).
    let reference = Tensor(shape: [1, 2, 5], scalars: [0, 0.1, 0.2, 0.9, 0.3, 0, 0, 0, 0, 0])
    let h = Tensor(shape: [1, 2, 5], scalars: [1, 0, 0, 0.5, 0, 0, 0, 0, 0, 0])
    #expect(FoolingLoss.topIndices(reference) == [3])
    #expect(abs(FoolingLoss.topK(h, reference: reference).scalar - 0.25) < 1e-6)
    #expect(FoolingStatistics.topK(original: reference, fooled: h) == [0])
    #expect(FoolingStatistics.topK(original: reference, fooled: reference) == [1])
  }

  @Test func activeLossIsZeroForSwappedMaps() {
    let a = randomTensor([2, 4, 4], seed: 1, low: 0, high: 1), b = randomTensor([2, 4, 4], seed: 2, low: 0, high: 1)
    #expect(FoolingLoss.active(b, a, referenceC1: a, referenceC2: b).scalar == 0)
    #expect(FoolingStatistics.active(fooledC1: b, originalC2: b).allSatisfy { abs($0 - 1) < 1e-5 })
  }

  @Test func hideLossAndRanks() {
    // Two rows, four groups; group 1 is sensitive.
    let r = Tensor(shape: [2, 4], scalars: [0.1, -0.8, 0.3, 0.2, 0.5, 0.05, -0.4, 0.3])
    // Shares of |R|: 0.8 / 1.4 and 0.05 / 1.25.
    #expect(abs(FoolingLoss.hide(r, sensitive: [1]).scalar - (0.8 / 1.4 + 0.05 / 1.25) / 2) < 1e-6)
    // Scale-free: ten times the relevance gives the same loss.
    #expect(abs(FoolingLoss.hide(r * 10, sensitive: [1]).scalar - (0.8 / 1.4 + 0.05 / 1.25) / 2) < 1e-6)
    #expect(FoolingStatistics.rank(r, group: 1) == [1, 4])
    #expect(FoolingStatistics.hide(r, sensitive: [1]) == [0, 1])
    #expect(FoolingStatistics.successRate(FoolingStatistics.hide(r, sensitive: [1]), range: SuccessRange(.atLeast, 1)) == 0.5)
  }

  @Test func peakKeepingPunishesSinkingMaps() {
    // Peaks 2 (at the original's height), 3 (above) and 0.5 of an original 2: only the last
    // sinks, by 1 - 0.5 / 2 = 0.75, so the loss is 0.75^2 / 3.
    let loss = FoolingLoss.peakKeeping(Tensor([2, 3, 0.5]), original: Tensor([2, 2, 2]))
    #expect(abs(loss.scalar - 0.5625 / 3) < 1e-6)
    // A blank map costs the most: 1 per map.
    #expect(abs(FoolingLoss.peakKeeping(Tensor([0, 0]), original: Tensor([1, 4])).scalar - 1) < 1e-6)
    // Peaks: Grad-CAM takes the raw CAM's max; LRP_T the max of the channel sum's ReLU.
    let cam = Tensor(shape: [2, 2, 2], scalars: [0, 1, 3, 2, 0, 0, 0, 0])
    #expect(Heatmap.peak(cam, method: .gradCAM).scalars == [3, 0])
    let relevance = Tensor(shape: [1, 2, 1, 2], scalars: [1, -4, 2, 1])  // channel sum [3, -3]
    #expect(Heatmap.peak(relevance, method: .lrpTarget).scalars == [3])
    // Channel sums [3, -3] and [1, 0]: positive shares 3 / 6 and 1 / 1; a negative map has none.
    let two = Tensor(shape: [3, 2, 1, 2], scalars: [1, -4, 2, 1, 1, 0, 0, 0, -1, -2, 0, -1])
    let share = Heatmap.positiveShare(two).scalars
    #expect(abs(share[0] - 0.5) < 1e-6 && abs(share[1] - 1) < 1e-6 && share[2] == 0)
  }

  @Test func successRateWhereTheOriginalFails() {
    let range = SuccessRange(.atLeast, 1)  // hide's default range: success: statistic >= 1 (1 = hidden)
    // Rows 0 and 1 were already hidden by the original; of rows 2, 3, 4 the attack hid 2 and 4.
    let original: [Float] = [1, 1, 0, 0, 0], fooled: [Float] = [1, 0, 1, 0, 1]
    #expect(FoolingStatistics.successRate(fooled, range: range) == 0.6)
    #expect(FoolingStatistics.successRate(fooled, whereOriginalFails: original, range: range) == Float(2) / 3)
    #expect(FoolingStatistics.successRate(fooled, whereOriginalFails: [1, 1, 1, 1, 1], range: range) == nil)
  }

  @Test func featureLocationShare() {
    let r = Tensor(shape: [1, 4], scalars: [1, -1, 2, 0])
    #expect(FoolingStatistics.featureLocation(r, inside: [2]) == [0.5])
    #expect(abs(FoolingLoss.featureLocation(r, inside: [2]).scalar - 0.5) < 1e-6)
  }

  /// Each row's own original top-2 columns, as a share of that row's |relevance|.
  @Test func tabularTopKShareIsPerRow() {
    let reference = Tensor(shape: [2, 4], scalars: [5, -4, 1, 0, 0, 1, -2, 3])  // top-2: {0, 1} and {3, 2}
    let r = Tensor(shape: [2, 4], scalars: [1, -1, 2, 0, 4, 0, -1, 3])
    // Row 0: (1 + 1) / 4 = 0.5; row 1: (3 + 1) / 8 = 0.5.
    #expect(abs(FoolingLoss.tabularTopK(r, reference: reference, k: 2).scalar - 0.5) < 1e-6)
    let s = Tensor(shape: [2, 4], scalars: [3, 1, 0, 0, 1, 1, 1, 1])  // 4 / 4 and 2 / 4
    #expect(abs(FoolingLoss.tabularTopK(s, reference: reference, k: 2).scalar - 0.75) < 1e-6)
    // The gradient against finite differences (all entries positive, so |.| is smooth there).
    let v = s.variable()
    let g = gradients(of: FoolingLoss.tabularTopK(v, reference: reference, k: 2), withRespectTo: [v])[0]
    var h = s.scalars
    for i in [0, 4, 6] {
      let e: Float = 1e-2
      h[i] += e
      let up = FoolingLoss.tabularTopK(Tensor(shape: [2, 4], scalars: h), reference: reference, k: 2).scalar
      h[i] -= 2 * e
      let down = FoolingLoss.tabularTopK(Tensor(shape: [2, 4], scalars: h), reference: reference, k: 2).scalar
      h[i] += e
      #expect(abs(g.scalars[i] - (up - down) / (2 * e)) < 1e-3)
    }
  }

  @Test func successRateCountsRanges() {
    let stats: [Float] = [0.1, 0.2, 0.25, .nan, 0.05]
    #expect(FoolingStatistics.successRate(stats, range: SuccessRange(.atMost, 0.2)) == 0.6)
    #expect(FoolingStatistics.successRate(stats, range: SuccessRange(.atLeast, 0.2)) == 0.4)
  }

  @Test func lossesAreDifferentiable() {
    // The location loss of a map computed from a variable passes gradients back: d/dh = 2(h-m)/N.
    let h = randomTensor([1, 7, 7], seed: 5, low: 0, high: 1)
    let check = checkGradients(of: { FoolingLoss.location($0[0]) + FoolingLoss.centerMass($0[0], reference: h) }, at: [h], epsilon: 1e-3)
    #expect(check.error < 2e-2)
  }
}

@Suite("Similarity metrics")
struct SimilarityMetricsTests {
  @Test func knownPairs() {
    let a: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    #expect(abs(SimilarityMetrics.pearson(a, a.map { -$0 }) + 1) < 1e-6)
    #expect(abs(SimilarityMetrics.pearson(a, a.map { 3 * $0 + 1 }) - 1) < 1e-6)
    #expect(abs(SimilarityMetrics.spearman(a, a.map { $0 * $0 * $0 }) - 1) < 1e-6)
    #expect(SimilarityMetrics.ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1])
    #expect(SimilarityMetrics.topKIntersection([5, 4, 3, 2], [5, 1, 3, 9], k: 2) == 0.5)
    #expect(SimilarityMetrics.mse([1, 2], [3, 2]) == 2)
    #expect(abs(SimilarityMetrics.ssim(a, a, height: 4, width: 4) - 1) < 1e-6)
    let noisy = a.enumerated().map { $0.element + ($0.offset % 2 == 0 ? 3 : -3) }
    #expect(SimilarityMetrics.ssim(a, noisy, height: 4, width: 4) < 0.9)
  }

  @Test func demographicParity() {
    // Group 0: 3 of 4 positive; group 1: 1 of 4 -> difference 0.5.
    let p = [1, 1, 1, 0, 1, 0, 0, 0], g = [0, 0, 0, 0, 1, 1, 1, 1]
    #expect(Fairness.demographicParityDifference(predictions: p, groups: g) == 0.5)
    // A third group of one row (rate 1) counts only without a minimum group size.
    #expect(Fairness.demographicParityDifference(predictions: p + [1], groups: g + [2]) == 0.75)
    #expect(Fairness.demographicParityDifference(predictions: p + [1], groups: g + [2], minimumGroupSize: 2) == 0.5)
  }
}
