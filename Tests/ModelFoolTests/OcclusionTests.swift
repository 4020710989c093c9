import ModelFool
import TestSupport
import Testing

/// Occlusion on a linear image model, where each patch's drop is `sum_{q in patch} w_q (x_q - fill)`.
@Suite struct OcclusionTests {
  /// Flatten -> Dense(9 -> 2) on 1x3x3 images.
  static func model() -> Model {
    let w = Tensor(shape: [2, 9], scalars: [1, 2, 3, 4, 5, 6, 7, 8, 9, -1, 0, 1, 0, 2, 0, 1, 0, -1])
    return Model(network: Sequential([Flatten(), Dense(weight: w, bias: Tensor([0.5, -0.5]))]), architecture: "linear", inputShape: [1, 3, 3])
  }

  /// Patch 2, stride 1: four windows with corners (0,0), (0,1), (1,0), (1,1). For class 0 and
  /// x = 1 everywhere, fill 0, the drops are the window sums of w: 1+2+4+5 = 12, 2+3+5+6 = 16,
  /// 4+5+7+8 = 24, 5+6+8+9 = 28. The corner (0,0) lies in window 1 only: 12; the centre in all
  /// four: (12+16+24+28)/4 = 20; the top edge (0,1) in the first two: 14; and so on.
  @Test func patchDropsAveragedOverCoveringWindows() throws {
    var o = ExplanationOptions()
    (o.occlusionPatch, o.occlusionStride, o.occlusionFill) = (2, 1, 0)
    let x = Tensor.ones([1, 1, 3, 3])
    let r = try Occlusion.map(Self.model(), x, classes: [0], options: o)
    #expect(r.map.shape == [1, 1, 3, 3])
    #expect(closeness(r.map, Tensor(shape: [1, 1, 3, 3], scalars: [12, 14, 16, 18, 20, 22, 24, 26, 28])) <= 1)
    // Class 1, fill 0.5, x = 1: drops are half the window sums of w_1: (-1+0+0+2)/2 = 0.5,
    // (0+1+2+0)/2 = 1.5, (0+2+1+0)/2 = 1.5, (2+0+0-1)/2 = 0.5.
    o.occlusionFill = 0.5
    let r1 = try Occlusion.map(Self.model(), x, classes: [1], options: o)
    #expect(closeness(r1.map, Tensor(shape: [1, 1, 3, 3], scalars: [0.5, 1, 1.5, 1, 1, 1, 1.5, 1, 0.5])) <= 1)
  }

  /// Stride 2 with patch 2 on 3 pixels: the corners 0 and 1 (the last moved to the edge), so
  /// the windows overlap in the middle row and column; chunking (one copy per pass) changes nothing.
  @Test func lastWindowTouchesTheEdgeAndChunkingChangesNothing() throws {
    var o = ExplanationOptions()
    (o.occlusionPatch, o.occlusionStride) = (2, 2)
    let x = randomTensor([2, 1, 3, 3], seed: 4)
    let a = try Occlusion.map(Self.model(), x, classes: [0, 1], options: o).map
    o.chunkRows = 1
    let b = try Occlusion.map(Self.model(), x, classes: [0, 1], options: o).map
    #expect(closeness(a, b, rtol: 1e-6, atol: 1e-6) <= 1)
    (o.occlusionStride, o.chunkRows) = (1, 256)
    let c = try Occlusion.map(Self.model(), x, classes: [0, 1], options: o).map
    #expect(closeness(a, c, rtol: 1e-6, atol: 1e-6) <= 1)
    // A patch of the whole image: every pixel gets y_c(x) - y_c(fill everywhere).
    o.occlusionPatch = 3
    let whole = try Occlusion.map(Self.model(), x, classes: [0, 1], options: o)
    let w = Self.model().trainableParameters()[0].value.scalars
    for n in 0..<2 {
      let cls = [0, 1][n]
      let drop = (0..<9).reduce(Float(0)) { $0 + w[cls * 9 + $1] * x.scalars[n * 9 + $1] }
      #expect(whole.map.scalars[(n * 9)..<(n * 9 + 9)].allSatisfy { abs($0 - drop) < 1e-5 })
    }
    o.occlusionPatch = 4
    let tooLarge = o
    #expect(throws: ExplanationError.self) { _ = try Occlusion.map(Self.model(), x, classes: nil, options: tooLarge) }
  }
}
