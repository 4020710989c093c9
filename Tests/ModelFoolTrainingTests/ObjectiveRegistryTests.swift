import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// An objective written outside the library: relevance spread evenly over the features. Loss: the
/// mean over rows of the largest group's share of |relevance| (a max, differentiable almost
/// everywhere); statistic: that largest share; success `<= 0.3`.
struct SpreadObjective: FoolingObjective {
  var name: String { "spread" }
  var kind: DataKind { .tabular }
  var statistic: String { "largest-share" }
  var defaultRange: SuccessRange { SuccessRange(.atMost, 0.3) }

  static func shares(_ r: Tensor) -> Tensor {
    let a = r.abs()
    return a / (a.sum(alongAxes: [1], keepingDimensions: true) + 1e-8)
  }

  func loss(_ maps: ObjectiveMaps, options: FineTuneOptions) throws -> Tensor {
    Self.shares(try maps.fooled(maps.labels)).max(alongAxes: [1]).mean()
  }

  func statistics(_ maps: ObjectiveMaps) throws -> (original: [Float], fooled: [Float]) {
    func largest(_ r: Tensor) -> [Float] { Self.shares(r).max(alongAxes: [1]).scalars }
    return (largest(try maps.original(maps.labels)), largest(try maps.fooled(maps.labels)))
  }

  func tune(_ options: inout FineTuneOptions, family: ModelFamily) {
    options.lambda = 5
    options.learningRate = 1e-3
    options.steps = 12
    options.batchSize = 64
  }
}

@Suite("Objective registry", .serialized)
struct ObjectiveRegistryTests {
  /// The shares of |relevance| per row, hand-computed: [1, -3] -> [0.25, 0.75].
  @Test func spreadStatisticIsTheLargestShare() throws {
    let r = Tensor(shape: [2, 2], scalars: [1, -3, 2, 2])
    #expect(SpreadObjective.shares(r).max(alongAxes: [1]).scalars == [0.75, 0.5])
  }

  /// Registering one value makes the objective resolvable by name, fine-tunable by a
  /// ``FineTuneRun`` with its own defaults, recorded, and scored again by an ``EvaluationRun``
  /// that reads the record back.
  @Test func anObjectiveDefinedOutsideTheLibraryRunsEndToEnd() throws {
    FoolingObjectives.register(ObjectiveDefinition(name: "spread", kind: .tabular, summary: "relevance spread evenly") { _ in SpreadObjective() })
    #expect(FoolingObjectives.names.contains("spread"))
    let folder = RunTests.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let (_, base) = try RunTests.shortBase("german", epochs: 2, in: folder)
    var settings = FineTuneSettings()
    settings.dataset = "german"
    settings.model = base
    settings.objective = "spread"
    settings.evalCount = 50
    let outcome = try FineTuneRun(settings: settings, datasetsRoot: "datasets").run()
    let resolved = outcome.report.run.settings
    // The objective's own defaults, under the family's fooled method.
    #expect(resolved.lambda == 5 && resolved.learningRate == 1e-3 && resolved.steps == 12 && resolved.batchSize == 64)
    #expect(resolved.methods == [.simpleGrad] && resolved.objective == "spread")
    let evaluation = outcome.report.evaluation
    #expect(evaluation.objective == "spread" && evaluation.statistic == "largest-share" && evaluation.successRange == "<= 0.3")
    #expect(evaluation.examples == 50 && outcome.report.curves.count == 12)
    let out = folder + "/run"
    try outcome.write(to: out)
    var again = EvaluationSettings(model: out + "/model.h5")
    again.evalCount = 50
    let scored = try EvaluationRun(settings: again, datasetsRoot: "datasets").run().evaluation
    #expect(scored.objective == "spread" && scored.fsr.mapValues(\.fooled) == evaluation.fsr.mapValues(\.fooled))
    #expect(scored.methods.map(\.meanStatistic.fooled) == evaluation.methods.map(\.meanStatistic.fooled))
  }
}
