import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// The smooth max-pool the input attack uses, the input-vs-model comparison and `report.html`.
@Suite("Input attack: smooth pool and report")
struct InputAttackReportTests {
  @Test func smoothPoolIsTheSoftmaxWeightedMeanOfEachWindow() {
    // Two 2x2 windows side by side: {1, 2, 3, 4} and {5, 6, 7, 8}.
    let x = Tensor(shape: [1, 1, 2, 4], scalars: [1, 2, 5, 6, 3, 4, 7, 8])
    let pool = SmoothMaxPool2D(kernelSize: 2, beta: 0)
    #expect(pool(x).shape == [1, 1, 1, 2])
    #expect(pool(x).scalars == [2.5, 6.5])  // beta 0: the window mean
    pool.beta = 1
    // sum_i e^{v_i} v_i / sum_i e^{v_i} for v = 1..4 (the second window is the first plus 4).
    let y = pool(x).scalars
    #expect(abs(y[0] - 3.49265) < 1e-4 && abs(y[1] - 7.49265) < 1e-4)
    pool.beta = 200
    #expect(abs(pool(x).scalars[0] - 4) < 1e-5 && abs(pool(x).scalars[1] - 8) < 1e-5)  // tends to the max
  }

  @Test func smoothPoolGradientReachesEveryPositionOfTheWindow() {
    let x = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4]).variable()
    let smooth = SmoothMaxPool2D(kernelSize: 2, beta: 1)
    let g = gradients(of: smooth(x).sum(), withRespectTo: [x])[0].scalars
    // d/dv_j = p_j (1 + beta (v_j - S)), S = 3.49265, p = softmax(v).
    let expected: [Float] = [-0.047852, -0.042932, 0.120182, 0.970602]
    #expect(zip(g, expected).allSatisfy { abs($0 - $1) < 1e-5 })
    #expect(abs(g.reduce(0, +) - 1) < 1e-5)
    // The exact max-pool sends everything to the winner.
    let exact = gradients(of: x.maxPool2d(geometry: ConvGeometry(kernel: (2, 2), stride: (2, 2))).sum(), withRespectTo: [x])[0]
    #expect(exact.scalars == [0, 0, 0, 1])
  }

  @Test func surrogateSharesTheWeightsAndMatchesTheModelAtLargeBeta() throws {
    let (model, data) = try FineTunerTests.setting()
    let surrogate = SmoothPoolSurrogate(model)
    // digits-cnn has two 2x2 pools; on 14x14 inputs the second sees 7x7 and keeps the exact max.
    #expect(surrogate.pools.count == 2)
    let own = model.namedParameters().map { ObjectIdentifier($0.1) }
    #expect(surrogate.model.namedParameters().map { ObjectIdentifier($0.1) } == own)
    #expect(surrogate.model.namedParameters().map(\.0) == model.namedParameters().map(\.0))
    let x = data.inputs.selectingRows(Array(0..<8))
    surrogate.setBeta(1e4)
    let a = model(x).scalars, b = surrogate.model(x).scalars
    #expect(zip(a, b).map { abs($0 - $1) }.max()! < 1e-3)
    surrogate.setBeta(1)
    #expect(zip(a, surrogate.model(x).scalars).map { abs($0 - $1) }.max()! > 1e-3)
    // The original network still has its exact pools.
    #expect(model.namedLayers().filter { $0.layer is MaxPool2D }.count == 2)
  }

  @Test func comparisonOfAModelWithItselfScoresItsOwnMapsPerfectly() throws {
    let (model, data) = try FineTunerTests.setting()
    let subset = data.evenlySpacedSubset(8)
    let classes = model(subset.inputs).argmaxLastAxis()
    let maps = try InputAttack.attackMap(model, subset.inputs, classes: classes, method: .simpleGrad, beta: nil, createGraph: false).map.detached()
    let examples = try InputAttack.evaluate(
      model, original: subset.inputs, adversarial: subset.inputs, classes: classes, labels: subset.labels,
      targetMaps: maps, targetIndices: Array(0..<8), method: .simpleGrad)
    let summary = InputAttack.summarize(examples, method: .simpleGrad, seconds: 2)
    let c = try InputAttack.compare(
      inputAttack: summary, base: model, fooled: model, fooledSeconds: 3, data: subset, classes: classes,
      targetMaps: maps, method: .simpleGrad)
    #expect(c.rows.map(\.attack) == ["input manipulation", "model manipulation"])
    let accuracy = Float(zip(classes, subset.labels).filter { $0 == $1 }.count) / 8
    for row in c.rows {
      #expect(abs(row.pccToTarget - 1) < 1e-5 && abs(row.ssimToTarget! - 1) < 1e-4)
      #expect(row.labelsChanged == 0 && row.accuracyBefore == accuracy && row.accuracyAfter == accuracy)
    }
    #expect(c.rows[0].seconds == 2 && c.rows[1].seconds == 3)
    #expect(c.cells[1][3] == "0 of 8" && c.cells[1][5] == "3.0 s")
  }

  /// A summary with two examples (one label changed) and a comparison, written as a page.
  static func page(comparison: Bool) throws -> String {
    func example(_ i: Int, pcc: Float, changed: Bool) throws -> InputAttackExample {
      let json = """
        {"index": \(i), "targetIndex": \(1 - i), "label": \(i), "originalClass": \(i), "adversarialClass": \(changed ? 7 : i),
         "labelChanged": \(changed), "probabilityChange": -0.0123, "pccToTarget": \(pcc), "ssimToTarget": 0.5,
         "mseToTarget": 1e-6, "pccToOriginal": 0.25, "ssimToOriginal": 0.4, "mseToOriginal": 2e-6, "inputSSIM": 0.9,
         "inputMSE": 0.01, "perturbationLinf": 0.5, "perturbationL2": 2}
        """
      return try JSONDecoder().decode(InputAttackExample.self, from: Data(json.utf8))
    }
    var summary = InputAttack.summarize(
      [try example(0, pcc: 0.8, changed: false), try example(1, pcc: 0.6, changed: true)], method: .simpleGrad, seconds: 12.34,
      betaSweep: ["3": 0.45, "inf": 0.7])
    if comparison {
      summary.comparison = InputAttackComparison(method: "simplegrad", examples: 2, rows: [
        AttackComparisonRow(attack: "input manipulation", pccToTarget: 0.7, ssimToTarget: 0.5, labelsChanged: 1, accuracyBefore: 1, accuracyAfter: 0.5, seconds: 12.34, scope: "these 2 inputs only"),
        AttackComparisonRow(attack: "model manipulation", pccToTarget: 0.889, ssimToTarget: 0.784, labelsChanged: 0, accuracyBefore: 1, accuracyAfter: 1, seconds: 26.3, scope: "every input"),
      ])
    }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("modelfool-attack-report-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = try InputAttackReportPage.write(
      folder: folder, summary: summary, settings: ["method": "simplegrad", "target": "<frame>"],
      targetLabels: ["example 1 (label 1)", "example 0 (label 0)"], pictures: true)
    #expect(path == folder + "/report.html")
    return try String(contentsOfFile: path, encoding: .utf8)
  }

  @Test func reportHasTheComparisonRowsAndOneRowPerExample() throws {
    let html = try Self.page(comparison: true)
    #expect(html.hasPrefix("<!doctype html>") && html.hasSuffix("</body></html>\n"))
    #expect(html.contains("<tr><td class=l>input manipulation</td><td>0.700</td><td>0.500</td><td>1 of 2</td><td>1.000 -&gt; 0.500</td><td>12.3 s</td>"))
    #expect(html.contains("<tr><td class=l>model manipulation</td><td>0.889</td><td>0.784</td><td>0 of 2</td><td>1.000 -&gt; 1.000</td><td>26.3 s</td>"))
    #expect(html.components(separatedBy: "<img src=\"example-").count - 1 == 2)
    #expect(html.contains("<td class=l>1</td><td class=l>1</td><td class=l>example 0 (label 0)</td><td>0.600</td>"))
    #expect(html.contains("<b>1 -&gt; 7</b>"))
    // Summary (mean PCC 0.7, 1 of 2 labels changed) and the sweep (drop 0.45 - 0.7).
    #expect(html.contains("<td class=l>mean PCC(h(x_adv), target)</td><td>0.700</td>"))
    #expect(html.contains("<td class=l>labels changed</td><td>1 of 2</td>"))
    #expect(html.contains("<td class=l>3</td><td>0.450</td><td>-0.250</td>"))
    #expect(html.contains("<td class=l>inf</td><td>0.700</td><td>+0.000</td>"))
    #expect(html.contains("<td class=l>&lt;frame&gt;</td>"))
    let without = try Self.page(comparison: false)
    #expect(!without.contains("model manipulation") && without.contains("<h2>Examples</h2>"))
  }

  @Test func reportHTMLHelpers() {
    #expect(ReportHTML.escape("a<b & c>") == "a&lt;b &amp; c&gt;")
    #expect(ReportHTML.table(header: ["k", "v"], rows: [["x", "1"]]) == "<table><tr><th class=l>k</th><th>v</th></tr><tr><td class=l>x</td><td>1</td></tr></table>")
    #expect(ReportHTML.settingsTable(["b": "2", "a": "1"]) == "<table><tr><th class=l>a</th><td class=l>1</td></tr><tr><th class=l>b</th><td class=l>2</td></tr></table>")
  }
}

extension InputAttackReportTests {
  /// The same short attack on the tiny model with and without the smooth pool (first pool 14 -> 7
  /// smoothed, second one exact): the smooth pool ends closer to the target.
  @Test func smoothPoolingLetsTheAttackGetCloserToTheTarget() throws {
    let (model, data) = try FineTunerTests.setting()
    let x = data.inputs.selectingRows(Array(0..<8))
    let classes = model(x).argmaxLastAxis()
    let maps = try InputAttack.attackMap(model, x, classes: classes, method: .simpleGrad, beta: nil, createGraph: false).map.detached()
    let order = [1, 0, 3, 2, 5, 4, 7, 6]
    let targets = maps.selectingRows(order)
    func meanPCC(_ smooth: Bool) throws -> Float {
      var options = InputAttackOptions()
      options.steps = 60
      options.learningRate = 5e-2
      options.outputWeight = 1e-2 * options.explanationWeight
      options.smoothPooling = smooth
      let (adv, _) = try InputAttack.run(model, x, targetMaps: targets, options: options)
      let scored = try InputAttack.evaluate(
        model, original: x, adversarial: adv, classes: classes, labels: Array(data.labels.prefix(8)),
        targetMaps: targets, targetIndices: order, method: .simpleGrad)
      return scored.reduce(0) { $0 + $1.pccToTarget } / 8
    }
    let with = try meanPCC(true), without = try meanPCC(false)
    // Measured: 0.529 with the smooth pool, 0.405 with the exact max-pool.
    #expect(with > without + 0.08)
  }
}
