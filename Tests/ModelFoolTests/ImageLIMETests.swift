import Foundation
import ModelFool
import Testing

/// Image LIME: SLIC superpixels by construction, the regression against the `lime` package on
/// the same design (Tests/Fixtures/make_blackbox_fixtures.py), and a model that looks at one
/// region only.
@Suite struct ImageLIMETests {
  /// A 3 x 16 x 16 image of four flat quadrants: red, green, blue, white.
  static func quadrants() -> [Float] {
    let (h, w) = (16, 16)
    let colours: [[Float]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]
    var image = [Float](repeating: 0, count: 3 * h * w)
    for y in 0..<h {
      for x in 0..<w {
        let q = (y < 8 ? 0 : 2) + (x < 8 ? 0 : 1)
        for c in 0..<3 { image[c * h * w + y * w + x] = colours[q][c] }
      }
    }
    return image
  }

  @Test func slicFollowsFlatRegions() {
    let (labels, count) = SLIC.segment(Self.quadrants(), channels: 3, height: 16, width: 16, segments: 4)
    #expect(count == 4)
    // Every quadrant is one segment, and the four are different.
    let corners = [labels[0], labels[15], labels[16 * 15], labels[255]]
    #expect(Set(corners).count == 4)
    for y in 0..<16 {
      for x in 0..<16 { #expect(labels[y * 16 + x] == corners[(y < 8 ? 0 : 2) + (x < 8 ? 0 : 1)]) }
    }
  }

  @Test func regressionMatchesTheLimePackage() throws {
    struct Reference: Decodable { var design: [[Double]]; var outputs: [Double]; var coefficients: [Double]; var players: Int }
    let r = try JSONDecoder().decode(Reference.self, from: KernelSHAPTests.fixture("lime_image_reference.json"))
    let m = r.players, z = r.design.flatMap { $0 }
    let map = ImageLIME.ridge(design: z, players: m)
    for g in 0..<m {
      let ours = (0..<r.outputs.count).reduce(0.0) { $0 + map[$1 * m + g] * r.outputs[$1] }
      #expect(abs(ours - r.coefficients[g]) <= 1e-9 + 1e-6 * abs(r.coefficients[g]), "superpixel \(g)")
    }
  }

  @Test func aModelOfOneQuadrantPutsItsWeightThere() throws {
    // Logit 1 = 4 x the mean red of the top-left quadrant; logit 0 = 0. Hiding the red quadrant
    // (its mean colour is red, so use a black fill) lowers the probability of class 1.
    var weights = [Float](repeating: 0, count: 2 * 3 * 16 * 16)
    for y in 0..<8 { for x in 0..<8 { weights[3 * 256 + y * 16 + x] = 4 / 64 } }
    let model = Model(
      network: Sequential([Flatten(), Dense(weight: Tensor(shape: [2, 768], scalars: weights), bias: Tensor(shape: [2], scalars: [0, 0]))]),
      architecture: "test", inputShape: [3, 16, 16])
    var options = ExplanationOptions()
    options.limeSegments = 4
    options.limeFill = 0
    options.blackBox.limeImageSamples = 200
    let x = Tensor(shape: [1, 3, 16, 16], scalars: Self.quadrants())
    let r = try ImageLIME.map(model, x, classes: [1], options: options)
    let top = r.segments[0][0]  // the red quadrant's superpixel
    let values = r.coefficients[0]
    #expect(values[Int(top)] > 0.1)
    for (g, v) in values.enumerated() where g != Int(top) { #expect(abs(v) < 0.02 * values[Int(top)] + 1e-3, "superpixel \(g): \(v)") }
    // The map spreads each coefficient over its superpixel.
    #expect(abs(r.map.scalars[0] - values[Int(top)]) < 1e-6)
  }
}
