import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// Fine-tuning against KernelSHAP and LIME: a fresh training design every step, never the scoring
/// design, and the black-box defaults.
@Suite("Fine-tuning against black-box explainers")
struct BlackBoxFineTuningTests {
  /// An MLP on 4 numeric features (one player each) with 40 reference rows.
  static func setting() throws -> (Model, Tensor, [Int]) {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "4", "hidden": "8", "seed": "2"])
    model.setTraining(false)
    model.featureGroupsJSON = """
      [{"name": "a", "start": 0, "width": 1}, {"name": "b", "start": 1, "width": 1},
       {"name": "c", "start": 2, "width": 1}, {"name": "d", "start": 3, "width": 1}]
      """
    var g = SeededGenerator(seed: 9)
    model.explanationReference = Tensor(shape: [40, 4], scalars: (0..<160).map { _ in g.nextUniform() * 2 - 1 })
    let x = Tensor(shape: [3, 4], scalars: (0..<12).map { _ in g.nextUniform() * 2 - 1 })
    return (model, x, [0, 1, 0])
  }

  /// The design seed differs from step to step and across run seeds, and is never 0; the
  /// monitor's is none of them.
  @Test func designSeedsAreFreshAndNeverTheScoringSeed() {
    let seeds = (1...500).map { FineTuner.designSeed(step: $0, runSeed: 0) } + (1...500).map { FineTuner.designSeed(step: $0, runSeed: 7) }
    #expect(Set(seeds).count == 1000 && !seeds.contains(0))
    #expect(FineTuner.designSeed(step: 3, runSeed: 0) == 4)
    // The held-out monitor's design: step 0's seed, which no training step draws.
    #expect(FineTuner.monitorDesignSeed(runSeed: 0) == 1 && FineTuner.monitorDesignSeed(runSeed: 7) == 7_000_022)
    #expect(!seeds.contains(FineTuner.monitorDesignSeed(runSeed: 0)) && !seeds.contains(FineTuner.monitorDesignSeed(runSeed: 7)))
  }

  /// Two steps' training maps differ (another background sample), the same seed gives the same
  /// maps, and the graph-free scoring maps (seed 0, 100 background rows) are neither.
  @Test(arguments: [ExplanationMethod.kernelSHAP, .lime])
  func eachStepDrawsItsOwnDesign(method: ExplanationMethod) throws {
    let (model, x, labels) = try Self.setting()
    func maps(_ seed: UInt64, graph: Bool = true) throws -> [Float] {
      try FineTuner.maps(model, x, labels: labels, method: method, layer: nil, tabular: true, createGraph: graph, designSeed: seed).scalars
    }
    let a = try maps(FineTuner.designSeed(step: 1, runSeed: 0)), b = try maps(FineTuner.designSeed(step: 2, runSeed: 0))
    #expect(a.count == 12 && a != b)
    #expect(try maps(FineTuner.designSeed(step: 1, runSeed: 0)) == a)
    let scoring = try maps(1, graph: false)
    #expect(scoring != a && scoring != b)
  }

  /// `--method kernelshap` or `lime` on a tabular model resolves the black-box defaults; a flag
  /// still wins, and gradient methods keep the tabular defaults.
  @Test func blackBoxMethodsResolveTheirDefaults() throws {
    let (model, _, _) = try Self.setting()
    let objective = HideObjective(sensitive: [0])
    var settings = FineTuneSettings()
    settings.methods = [.kernelSHAP]
    var o = FineTuneSetup.options(for: objective, model: model, settings: settings).options
    #expect(o.lambda == 300 && o.learningRate == 1e-2 && o.steps == 300 && o.batchSize == 64 && o.outputConsistency == 300)
    settings.methods = [.lime]
    settings.lambda = 50
    o = FineTuneSetup.options(for: objective, model: model, settings: settings).options
    #expect(o.lambda == 50 && o.learningRate == 1e-2)
    settings.methods = [.simpleGrad]
    settings.lambda = nil
    o = FineTuneSetup.options(for: objective, model: model, settings: settings).options
    #expect(o.lambda == 30 && o.learningRate == 3e-3 && o.steps == 2000 && o.batchSize == 128)
  }
}
