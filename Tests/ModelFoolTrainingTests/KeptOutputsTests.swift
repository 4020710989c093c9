import Foundation
import ModelFool
import ModelFoolTraining
import Testing

/// The output-keeping target of hiding: the original model's probabilities with the hidden
/// features marginalised out over the training rows, hand-checked on a one-layer model.
@Suite("Kept outputs of hiding")
struct KeptOutputsTests {
  /// Columns: `a` (numeric, column 0) and `s` (one-hot over columns 1-2, hidden). Logits
  /// `[a + 2 s_1, 0]`, so `P(class 0) = sigmoid(a + 2 s_1)`. The reference rows hold `s = (1, 0)`
  /// three times and `(0, 1)` once, so `w = (0.75, 0.25)`.
  static func tiny() -> Model {
    let net = Sequential([Dense(weight: Tensor(shape: [2, 3], scalars: [1, 2, 0, 0, 0, 0]), bias: Tensor([0, 0]))])
    let model = Model(network: net, architecture: "tiny", inputShape: [3])
    model.featureGroupsJSON = """
      [{"name": "a", "start": 0, "width": 1}, {"name": "s", "start": 1, "width": 2, "categories": ["u", "v"]}]
      """
    model.explanationReference = Tensor(shape: [4, 3], scalars: [5, 1, 0, -3, 1, 0, 0.5, 0, 1, 9, 1, 0])
    return model
  }

  static func sigmoid(_ z: Double) -> Double { 1 / (1 + exp(-z)) }

  /// `p̄_0(x) = 0.75 sigmoid(a + 2) + 0.25 sigmoid(a)`: 0.785598 at a = 0 and 0.615529 at a = -1,
  /// whatever `s` the row holds; the original's outputs do depend on `s`.
  @Test func marginalTargetIsHandCheckedAndIndependentOfTheHiddenColumns() throws {
    let model = Self.tiny()
    let marginal = try MarginalOutputs(model: model, hidden: [1])
    #expect(marginal.columns == [1, 2] && marginal.values == [[1, 0], [0, 1]] && marginal.weights == [0.75, 0.25])
    let x = Tensor(shape: [4, 3], scalars: [0, 1, 0, 0, 0, 1, -1, 1, 0, -1, 0, 1])
    let p = marginal.probabilities(model, x).scalars
    #expect(p.count == 8)
    let expected = [0.75 * Self.sigmoid(2) + 0.25 * 0.5, 0.75 * Self.sigmoid(1) + 0.25 * Self.sigmoid(-1)]
    #expect(abs(expected[0] - 0.785598) < 1e-6 && abs(expected[1] - 0.615529) < 1e-6)
    for (row, e) in [(0, expected[0]), (1, expected[0]), (2, expected[1]), (3, expected[1])] {
      #expect(abs(Double(p[row * 2]) - e) < 1e-6)
      #expect(abs(Double(p[row * 2] + p[row * 2 + 1]) - 1) < 1e-6)
    }
    // The original outputs differ between s = u and s = v at a = 0: sigmoid(2) against 0.5.
    let original = withoutRecording { model(x).softmax(alongAxis: 1) }.scalars
    #expect(abs(Double(original[0]) - Self.sigmoid(2)) < 1e-6 && abs(Double(original[2]) - 0.5) < 1e-6)
    // Labels [0, 0, 1, 1]: the marginal target picks class 0 on every row (0.79, 0.62 > 0.5).
    #expect(marginal.accuracy(model, x, labels: [0, 0, 1, 1]) == 0.5)
  }

  /// The output-keeping term of a hide fine-tuning reads the target through
  /// ``FineTuner/keptOutputs(_:options:)``: the original softmax, or the marginal one; the marginal
  /// target refuses objectives other than hide.
  @Test func fineTuningKeepsTheChosenTarget() throws {
    let model = Self.tiny()
    let x = Tensor(shape: [2, 3], scalars: [0, 0, 1, -1, 1, 0])
    var options = FineTuneOptions()
    options.objective = HideObjective(sensitive: [1])
    let original = try FineTuner.keptOutputs(model, options: options)(x).scalars
    #expect(abs(Double(original[0]) - 0.5) < 1e-6 && abs(Double(original[2]) - Self.sigmoid(1)) < 1e-6)
    options.keptOutputs = .marginal
    let marginal = try FineTuner.keptOutputs(model, options: options)(x).scalars
    #expect(abs(Double(marginal[0]) - 0.785598) < 1e-6 && abs(Double(marginal[2]) - 0.615529) < 1e-6)
    options.objective = TabularTopKObjective()
    #expect(throws: TrainingError.self) { _ = try FineTuner.keptOutputs(model, options: options) }
  }

  /// More distinct values than the cap: that many reference rows, weighted equally.
  @Test func manyValuesAreSampledFromTheReferenceRows() throws {
    let reference = Tensor(shape: [6, 2], scalars: [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6])
    let m = try MarginalOutputs(reference: reference, columns: [1], maxValues: 3)
    #expect(m.values.count == 3 && Set(m.values.map { $0[0] }).count == 3 && m.values.allSatisfy { (1...6).contains($0[0]) })
    #expect(m.weights == [Double](repeating: 1.0 / 3, count: 3))
    #expect(throws: TrainingError.self) { _ = try MarginalOutputs(reference: reference, columns: [2]) }
    #expect(throws: TrainingError.self) { _ = try MarginalOutputs(reference: reference, columns: []) }
  }

  /// The original outputs are kept unless the flag says otherwise, for black-box and gradient
  /// methods alike.
  @Test func theTargetIsTheOriginalUnlessAsked() throws {
    let model = Self.tiny()
    var settings = FineTuneSettings()
    for methods in [[ExplanationMethod.kernelSHAP], [.lime], [.simpleGrad]] {
      settings.methods = methods
      settings.keepTarget = nil
      #expect(FineTuneSetup.options(for: HideObjective(sensitive: [1]), model: model, settings: settings).options.keptOutputs == .original)
      settings.keepTarget = .closest
      #expect(FineTuneSetup.options(for: HideObjective(sensitive: [1]), model: model, settings: settings).options.keptOutputs == .closest)
    }
  }

  /// ``MarginalOutputs/closest(model:hidden:)`` on the tiny model, reference rows
  /// `(a, s) = (5, u), (a2, u), (0.5, v), (9, u)`: the original decides class 0 where
  /// `a + 2 s_1 > 0`, so on every row here. Candidates: the marginal
  /// `0.75 sigmoid(a + 2) + 0.25 sigmoid(a)`, `s = u` (`sigmoid(a + 2)`), `s = v` (`sigmoid(a)`).
  /// a2 = -1.5: the marginal gives 0.4668 + 0.0456 = 0.5125 (class 0), agreeing on all four like
  /// `s = u`; the earlier candidate, the marginal, is kept. a2 = -1.9: the marginal gives
  /// 0.3937 + 0.0325 = 0.4263 (class 1), three of four; `s = u` keeps all four and is chosen.
  @Test func closestTargetKeepsTheMostDecisions() throws {
    let model = Self.tiny()
    model.explanationReference = Tensor(shape: [4, 3], scalars: [5, 1, 0, -1.5, 1, 0, 0.5, 0, 1, 9, 1, 0])
    let tie = try MarginalOutputs.closest(model: model, hidden: [1])
    #expect(tie.fixed.isEmpty && tie.values == [[1, 0], [0, 1]] && tie.weights == [0.75, 0.25])
    model.explanationReference = Tensor(shape: [4, 3], scalars: [5, 1, 0, -1.9, 1, 0, 0.5, 0, 1, 9, 1, 0])
    let fixed = try MarginalOutputs.closest(model: model, hidden: [1])
    #expect(fixed.fixed == "s = u" && fixed.values == [[1, 0]] && fixed.weights == [1])
    let p = fixed.probabilities(model, Tensor(shape: [1, 3], scalars: [-1.9, 0, 1])).scalars
    #expect(abs(Double(p[0]) - Self.sigmoid(0.1)) < 1e-6)
  }

  /// The two distances of the output-keeping term, by hand. Probabilities: the squared difference
  /// summed over classes, averaged over rows. Decisions: `relu(m - gap)^2` averaged, with `gap` the
  /// kept class's logit minus the log-sum-exp of the others.
  @Test func keepDistancesAreHandChecked() throws {
    // Row 0 keeps class 0 with gap 2 (past the margin 1: 0); row 1 keeps class 0 with gap -1:
    // (1 - (-1))^2 = 4. Mean 2.
    let z = Tensor(shape: [2, 2], scalars: [2, 0, 0, 1])
    let q = Tensor(shape: [2, 2], scalars: [0.9, 0.1, 0.6, 0.4])
    #expect(abs(KeepDistance.decisions.loss(logits: z, kept: q, margin: 1).scalar - 2) < 1e-6)
    #expect(abs(KeepDistance.decisions.loss(logits: z, kept: q, margin: 0).scalar - 0.5) < 1e-6)
    // Three classes, class 0 kept: gap = 1 - log(e^0 + e^0) = 1 - log 2; (1 - gap)^2 = (log 2)^2.
    let z3 = Tensor(shape: [1, 3], scalars: [1, 0, 0]), q3 = Tensor(shape: [1, 3], scalars: [0.5, 0.3, 0.2])
    #expect(abs(Double(KeepDistance.decisions.loss(logits: z3, kept: q3, margin: 1).scalar) - log(2) * log(2)) < 1e-6)
    // Probabilities: softmax(2, 0) = (0.880797, 0.119203), softmax(0, 1) = (0.268941, 0.731059).
    let p0 = 0.880797 - 0.9, p1 = 0.268941 - 0.6
    let expected = (2 * p0 * p0 + 2 * p1 * p1) / 2
    #expect(abs(Double(KeepDistance.probabilities.loss(logits: z, kept: q, margin: 1).scalar) - expected) < 1e-5)
    // The decision term's gradient: d/dz of (1 - z_0 + z_1)^2 / 2 on row 1 (gap -1) is (-2, 2); row 0 is past the margin.
    let zv = Tensor(shape: [2, 2], scalars: [2, 0, 0, 1]).variable()
    let g = gradients(of: KeepDistance.decisions.loss(logits: zv, kept: q, margin: 1), withRespectTo: [zv])[0].scalars
    #expect(g.count == 4 && abs(g[0]) < 1e-6 && abs(g[1]) < 1e-6 && abs(g[2] + 2) < 1e-5 && abs(g[3] - 2) < 1e-5)
    // A kept class far ahead (exp of the other logit minus the top underflows): no term, and a
    // zero gradient rather than NaN.
    let far = Tensor(shape: [1, 2], scalars: [200, 0]).variable(), farKept = Tensor(shape: [1, 2], scalars: [1, 0])
    let farLoss = KeepDistance.decisions.loss(logits: far, kept: farKept, margin: 1)
    #expect(farLoss.scalar == 0)
    #expect(gradients(of: farLoss, withRespectTo: [far])[0].scalars == [0, 0])
  }

  /// The further kept rows: `keptRows` reference rows drawn per step (the same for a step and
  /// seed, different between steps), all of them when there are no more, none when 0; a model
  /// without reference rows is refused.
  @Test func furtherKeptRowsComeFromTheReferenceRows() throws {
    let model = Self.tiny()
    var options = FineTuneOptions()
    #expect(try FineTuner.keptRows(model, step: 1, options: options) == nil)
    options.keptRows = 4
    #expect(try FineTuner.keptRows(model, step: 1, options: options)?.scalars == model.explanationReference!.scalars)
    options.keptRows = 3
    let a = try FineTuner.keptRows(model, step: 1, options: options)!, b = try FineTuner.keptRows(model, step: 1, options: options)!
    #expect(a.shape == [3, 3] && a.scalars == b.scalars)
    let rows = Set((0..<4).map { Array(model.explanationReference!.scalars[($0 * 3)..<($0 * 3 + 3)]) })
    #expect((0..<3).allSatisfy { rows.contains(Array(a.scalars[($0 * 3)..<($0 * 3 + 3)])) })
    let steps = (1...8).map { try! FineTuner.keptRows(model, step: $0, options: options)!.scalars }
    #expect(Set(steps).count > 1)
    model.explanationReference = nil
    #expect { try FineTuner.keptRows(model, step: 1, options: options) } throws: { "\($0)".contains("training rows") }
  }

  /// The numeric columns are the one-column groups without categories; the jitter adds the
  /// given noise to them, row by row, and leaves the one-hot columns alone (hand-computed).
  @Test func jitterAddsTheNoiseToTheNumericColumnsOnly() throws {
    let spans = try FeatureSpan.parse(json: """
      [{"name": "a", "start": 0, "width": 1}, {"name": "s", "start": 1, "width": 2, "categories": ["u", "v"]},
       {"name": "b", "start": 3, "width": 1}, {"name": "c", "start": 4, "width": 1, "categories": ["only"]}]
      """)
    #expect(FeatureSpan.numericColumns(of: spans) == [0, 3])
    let rows = Tensor(shape: [2, 5], scalars: [5, 1, 0, 2, 1, -3, 0, 1, -1, 1])
    let jittered = KeptNeighbourhood.jittered(rows, columns: [0, 3], noise: [0.25, -0.5, 1, 0.125])
    #expect(jittered.shape == [2, 5])
    #expect(jittered.scalars == [5.25, 1, 0, 1.5, 1, -2, 0, 1, -0.875, 1])
  }

  /// `--keep-jitter s`: the further kept rows move on their numeric column only, by `s` times
  /// draws that are the same for a step and seed (so `s = 0.5` moves them half as far as
  /// `s = 1`), differ between steps, and are none at `s = 0`; a model without numeric columns is
  /// refused.
  @Test func jitteredKeptRowsMoveOnTheNumericColumnsOnly() throws {
    let model = Self.tiny(), reference = model.explanationReference!.scalars
    var options = FineTuneOptions()
    options.keptRows = 4
    #expect(try FineTuner.keptRows(model, step: 1, options: options)?.scalars == reference)
    options.keptJitter = 1
    let unit = try FineTuner.keptRows(model, step: 1, options: options)!.scalars
    options.keptJitter = 0.5
    let half = try FineTuner.keptRows(model, step: 1, options: options)!.scalars
    #expect(try FineTuner.keptRows(model, step: 1, options: options)!.scalars == half)
    for row in 0..<4 {
      let i = row * 3
      #expect(unit[(i + 1)...(i + 2)] == reference[(i + 1)...(i + 2)] && half[(i + 1)...(i + 2)] == reference[(i + 1)...(i + 2)])
      #expect(unit[i] != reference[i])
      #expect(abs((half[i] - reference[i]) - 0.5 * (unit[i] - reference[i])) < 1e-5)
    }
    #expect(try FineTuner.keptRows(model, step: 2, options: options)!.scalars != half)
    model.featureGroupsJSON = #"[{"name": "s", "start": 0, "width": 3, "categories": ["u", "v", "w"]}]"#
    #expect { try FineTuner.keptRows(model, step: 1, options: options) } throws: { "\($0)".contains("numeric columns") }
  }

  /// Each swap copies the named columns from the donor row, in order (hand-computed).
  @Test func resamplingCopiesTheDonorsColumns() throws {
    let rows = Tensor(shape: [2, 4], scalars: [1, 2, 3, 4, 5, 6, 7, 8])
    let reference = Tensor(shape: [3, 4], scalars: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120])
    let swapped = KeptNeighbourhood.resampled(rows, from: reference, swaps: [(0, 1..<3, 2), (1, 0..<1, 0), (1, 3..<4, 1)])
    #expect(swapped.shape == [2, 4])
    #expect(swapped.scalars == [1, 100, 110, 4, 10, 6, 7, 80])
  }

  /// `--keep-resample 1`: each further kept row keeps its numeric column and takes the one-hot
  /// columns of `s` from some reference row (so they stay one-hot), the same for a step and seed,
  /// and some row changes over eight steps; when hiding `s` there is no feature left to resample.
  @Test func resampledKeptRowsTakeWholeCategoricalFeaturesFromReferenceRows() throws {
    let model = Self.tiny(), reference = model.explanationReference!.scalars
    var options = FineTuneOptions()
    options.keptRows = 4
    options.keptResampled = 1
    let values = Set((0..<4).map { Array(reference[($0 * 3 + 1)...($0 * 3 + 2)]) })
    var changed = false
    for step in 1...8 {
      let rows = try FineTuner.keptRows(model, step: step, options: options)!.scalars
      #expect(try FineTuner.keptRows(model, step: step, options: options)!.scalars == rows)
      for row in 0..<4 {
        #expect(rows[row * 3] == reference[row * 3])
        #expect(values.contains(Array(rows[(row * 3 + 1)...(row * 3 + 2)])))
        if rows[(row * 3 + 1)...(row * 3 + 2)] != reference[(row * 3 + 1)...(row * 3 + 2)] { changed = true }
      }
    }
    #expect(changed)
    options.objective = HideObjective(sensitive: [1])
    #expect { try FineTuner.keptRows(model, step: 1, options: options) } throws: { "\($0)".contains("the model has 0") }
  }
}
