import ModelFool
import ModelFoolTraining
import Testing

/// Ghorbani et al.'s attacks away from the clean map: the measures by hand, and the attacks
/// against their random-sign baseline on a seeded digits CNN.
@Suite struct FragilityAttackTests {
  @Test func kIsTwoPercentOfTheMap() {
    #expect(FragilityAttack.topK(entries: 224 * 224) == 1004)
    #expect(FragilityAttack.topK(entries: 28 * 28) == 16)
    #expect(FragilityAttack.topK(entries: 7 * 7) == 1)
  }

  @Test func scoresByHand() {
    // Two 5x10 maps (50 entries, k = 1). Example 0 unmoved; example 1 moves its single mass
    // from (row 1, col 1) to (row 4, col 9).
    var clean = [Float](repeating: 0, count: 100), moved = clean
    clean[0 * 50 + 12] = 1; moved[0 * 50 + 12] = 1
    clean[50 + 0 * 10 + 0] = 1; moved[50 + 3 * 10 + 8] = 1
    let a = Tensor(shape: [2, 5, 10], scalars: clean), b = Tensor(shape: [2, 5, 10], scalars: moved)
    // Input height 20 = 4 x the map's 5 rows: a shift of (3, 8) map pixels is 4 sqrt(73) pixels.
    let s = FragilityAttack.score(originalMaps: a, adversarialMaps: b, inputHeight: 20)
    #expect(s.k == 1)
    #expect(s.perExampleTopK == [1, 0])
    #expect(s.topKIntersection == 0.5)
    let shift = try! #require(s.perExampleCenterShift)
    #expect(abs(shift[0]) < 1e-4)
    #expect(abs(shift[1] - 4 * Float(73).squareRoot()) < 1e-2)
  }

  @Test func attacksMoveTheMapFurtherThanRandomSignsAndKeepTheClass() throws {
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["seed": "3"])
    model.setTraining(false)
    var g = SeededGenerator(seed: 5)
    let x = Tensor.randomUniform([4, 1, 28, 28], using: &g)
    let classes = withoutRecording { model(x) }.argmaxLastAxis()
    func maps(_ input: Tensor) throws -> Tensor {
      try InputAttack.attackMap(model, input, classes: classes, method: .simpleGrad, beta: nil, createGraph: false).map.detached()
    }
    let clean = try maps(x)
    var options = InputAttackOptions()
    options.steps = 20
    options.epsilon = 8 / 255
    func attack(_ kind: FragilityAttack.Kind) throws -> (score: FragilityScore, input: Tensor) {
      let adversarial = try FragilityAttack.run(model, x, originalMaps: clean, classes: classes, kind: kind, options: options, seed: 1)
      return (FragilityAttack.score(originalMaps: clean, adversarialMaps: try maps(adversarial), inputHeight: 28), adversarial)
    }
    let random = try attack(.randomSign), topK = try attack(.topK), centre = try attack(.centerMass)
    for result in [random, topK, centre] {
      let change = (result.input - x).abs().scalars.max() ?? 0
      #expect(change <= 8 / 255 + 1e-6)
      #expect(result.input.scalars.allSatisfy { (0...1).contains($0) })
    }
    for result in [topK, centre] {
      #expect(withoutRecording { model(result.input) }.argmaxLastAxis() == classes)
    }
    #expect(topK.score.topKIntersection < random.score.topKIntersection)
    #expect(try #require(centre.score.centerShiftPixels) > (try #require(random.score.centerShiftPixels)))
  }
}
