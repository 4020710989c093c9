import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// The frozen original is loaded only when something reads it, and only with the starting weights.
@Suite("Frozen original")
struct FrozenOriginalTests {
  /// Location's loss reads only the fooled maps: three steps and a monitor pass load nothing.
  /// Top-k's reads the original's top pixels: loaded once, at the first step.
  @Test func loadedOnlyWhenTheObjectiveReadsIt() throws {
    let (start, data) = try FineTunerTests.setting()
    let objectives: [(any FoolingObjective, Int)] = [(LocationObjective(), 0), (TopKObjective(), 1)]
    for (objective, expectedLoads) in objectives {
      var options = FineTuneOptions()
      options.objective = objective
      options.method = .gradCAM
      options.layer = "features.6"
      options.lambda = 10
      options.learningRate = 3e-3
      options.steps = 3
      options.batchSize = 16
      options.evaluateEvery = 2
      let fooled = start.deepCopy()
      var loads = 0
      let frozen = FrozenOriginal(reloading: start, from: "the test's model") {
        loads += 1
        return start.deepCopy()
      }
      let progress = try FineTuner.train(fooled, original: frozen, on: data, monitor: data.subset(Array(0..<8)), options: options)
      #expect(progress.records.count == 3 && progress.records[1].heldOutAccuracy != nil)
      #expect(loads == expectedLoads, "\(objective.name)")
      #expect(frozen.isLoaded == (expectedLoads > 0))
      let original = try frozen.model()
      #expect(loads == 1)
      #expect(Checkpoint.digest(of: original) == Checkpoint.digest(of: start))
      #expect(Checkpoint.digest(of: fooled) != Checkpoint.digest(of: start))
    }
  }

  /// A base whose weights changed between the start of the run and the reload is refused.
  @Test func changedWeightsAreRefused() throws {
    let (start, _) = try FineTunerTests.setting()
    let frozen = FrozenOriginal(reloading: start, from: "base.h5") {
      let changed = start.deepCopy()
      let p = changed.trainableParameters()[0]
      p.value = p.value + Tensor(0.5)
      return changed
    }
    #expect(!frozen.isLoaded)
    let error = #expect(throws: TrainingError.self) { try frozen.model() }
    #expect(error?.description.contains("base.h5 changed during the run") == true)
    #expect(!frozen.isLoaded)
  }
}
