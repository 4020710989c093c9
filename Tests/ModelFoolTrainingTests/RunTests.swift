import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// Runs as library objects: settings documents, the observer, outputs written together, and a
/// fine-tuning whose recorded settings `evaluate --fsr` reads back.
@Suite("Runs")
struct RunTests {
  static func temporaryFolder() -> String {
    let path = NSTemporaryDirectory() + "modelfool-run-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// A base model of a shipped data set trained for `epochs` epochs (seed 0) into `folder`/base.h5;
  /// returns the data set's split and the checkpoint's path.
  static func shortBase(_ dataset: String, epochs: Int, in folder: String) throws -> (split: DatasetSplit, path: String) {
    let split = try DatasetCatalog.load(dataset, root: "datasets")
    var recipe = BaseModelRecipe.forDataset(split)
    recipe.training.epochs = epochs
    let path = folder + "/base.h5"
    _ = try Trainer.trainBase(split, recipe: recipe, seed: 0, checkpoint: path)
    return (split, path)
  }

  /// Collects a run's events.
  final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var events: [RunEvent] = []
    var observer: RunObserver { RunObserver { [self] e in lock.lock(); events.append(e); lock.unlock() } }
    var messages: [String] { events.compactMap { if case .message(let m) = $0 { m } else { nil } } }
    var progress: [RunProgress] { events.compactMap { if case .progress(let p) = $0 { p } else { nil } } }
    var finished: [String] { events.compactMap { if case .finished(let t, _) = $0 { t } else { nil } } }
  }

  @Test func settingsErrorsNameTheSetting() throws {
    var settings = FineTuneSettings()
    settings.steps = 0
    #expect { try settings.validate() } throws: { ($0 as? TrainingError)?.settings == ["steps"] }
    settings.steps = nil
    settings.lambda = .nan
    #expect { try settings.validate() } throws: { ($0 as? TrainingError)?.settings == ["lambda"] }
    settings.lambda = 1
    settings.methods = []
    #expect { try settings.validate() } throws: { ($0 as? TrainingError)?.settings == ["methods"] }
    var attack = InputAttackSettings()
    attack.count = 1
    #expect { try attack.validate() } throws: { "\($0)".contains("at least 2 examples") }
    attack.target = .frame
    try attack.validate()
    attack.betaGrowth = [10]
    #expect { try attack.validate() } throws: { ($0 as? TrainingError)?.settings == ["betaGrowth"] }
  }

  @Test func documentRoundTripsWithNonFiniteNumbers() throws {
    var settings = FineTuneSettings()
    settings.objective = "active"
    settings.classes = [3, 8]
    settings.methods = [.gradCAM, .lrpTarget]
    settings.lambda = 10
    let document = FineTuneDocument(
      modelfool: "test", settings: settings, objective: "active(3<->8)", baseLabelBias: nil, trainExamples: 4,
      heldOutExamples: 2, seconds: .infinity)
    let text = try RunJSON.encode(document)
    #expect(text.contains("\"format_version\":1") && text.contains("\"seconds\":\"inf\"") && text.contains("\"objective\":\"active\""))
    #expect(try FineTuneDocument.decode(text, source: "x") == document)
    let newer = text.replacingOccurrences(of: "\"format_version\":1", with: "\"format_version\":99")
    #expect { try FineTuneDocument.decode(newer, source: "m.h5") } throws: { "\($0)".contains("newer ModelFool (record version 99") }
    #expect { try FineTuneDocument.decode("{\"format\":\"x\"}", source: "m.h5") } throws: { "\($0)".hasPrefix("m.h5 is not a valid FineTuneDocument document (missing") }
  }

  @Test func outputsAreReplacedTogetherOrNotAtAll() throws {
    let folder = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try RunOutputs.write(into: folder) { staging in
      try RunOutputs.writeText("old a", to: staging + "/a.txt")
      try RunOutputs.writeText("old b", to: staging + "/b.txt")
    }
    struct Failure: Error {}
    #expect(throws: Failure.self) {
      try RunOutputs.write(into: folder) { staging in
        try RunOutputs.writeText("new a", to: staging + "/a.txt")
        throw Failure()
      }
    }
    #expect(try String(contentsOfFile: folder + "/a.txt", encoding: .utf8) == "old a")
    try RunOutputs.write(into: folder) { staging in
      try RunOutputs.writeText("new a", to: staging + "/a.txt")
      try RunOutputs.writeText("new b", to: staging + "/b.txt")
    }
    #expect(try String(contentsOfFile: folder + "/a.txt", encoding: .utf8) == "new a")
    #expect(try String(contentsOfFile: folder + "/b.txt", encoding: .utf8) == "new b")
    // No staging folder is left behind, whatever happened.
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["a.txt", "b.txt"])
    #expect { try RunOutputs.write(into: folder + "/a.txt") { _ in } } throws: { "\($0)".contains("is a file") }
  }

  /// A short German hide fine-tuning on a base model trained here: the checkpoint records the
  /// resolved settings, the observer sees every step, and an evaluation run that reads the record
  /// back scores exactly what the fine-tuning scored.
  @Test func fineTuningRecordsWhatEvaluationReadsBack() throws {
    let folder = Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let (split, base) = try Self.shortBase("german", epochs: 3, in: folder)

    var settings = FineTuneSettings()
    settings.dataset = "german"
    settings.model = base
    settings.objective = "hide"
    settings.steps = 6
    settings.batchSize = 64
    settings.scored = [.simpleGrad, .lrp]
    settings.evalCount = 100
    let recorder = Recorder()
    let outcome = try FineTuneRun(settings: settings, datasetsRoot: "datasets", observer: recorder.observer).run()
    let steps = recorder.progress.filter { $0.task == "finetune hide/simplegrad+lrp" }
    #expect(steps.map(\.done) == Array(0...6) && steps.allSatisfy { $0.total == 6 })
    #expect(recorder.finished.contains("finetune hide/simplegrad+lrp"))

    let resolved = outcome.report.run.settings
    #expect(resolved.model == base && resolved.methods == [.simpleGrad, .lrp] && resolved.sensitive == ["status_sex"])
    #expect(resolved.lambda == 30 && resolved.keepOutputs == 300 && resolved.learningRate == 3e-3 && resolved.steps == 6)
    #expect(outcome.report.run.objective == "hide(status_sex)")
    #expect(outcome.report.evaluation.examples == 100)

    let out = folder + "/run"
    try outcome.write(to: out)
    #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out)).isSuperset(of: ["model.h5", "report.json", "report.html"]))
    let record = try #require(try Checkpoint.runRecord(out + "/model.h5"))
    #expect(try FineTuneDocument.decode(record, source: "model.h5") == outcome.report.run)
    let report = try String(contentsOfFile: out + "/report.json", encoding: .utf8)
    #expect(report.hasPrefix("{\"curves\":") && report.contains("\"run\":{\"format\":\"modelfool-finetune\",\"format_version\":1,"))

    var evaluation = EvaluationSettings(model: out + "/model.h5")
    evaluation.evalCount = 100
    evaluation.methods = [.simpleGrad, .lrp]
    let kept = try EvaluationRun(settings: evaluation, datasetsRoot: "datasets").run(keepingMaps: true)
    let again = kept.evaluation
    #expect(again.objective == outcome.report.evaluation.objective)
    #expect(again.fsr.mapValues(\.fooled) == outcome.report.evaluation.fsr.mapValues(\.fooled))
    #expect(again.fsr.mapValues(\.original) == outcome.report.evaluation.fsr.mapValues(\.original))
    #expect(again.accuracy.fooled == outcome.report.evaluation.accuracy.fooled)
    // The kept arrays: per method both models' per-feature relevance, the logits and the labels.
    #expect(kept.arrays.map(\.name) == [
      "simplegrad_original", "simplegrad_fooled", "lrp_original", "lrp_fooled", "logits_original", "logits_fooled", "labels",
    ])
    let groups = split.test.features.count
    #expect(kept.arrays[0].shape == [100, groups] && kept.arrays[5].shape == [100, 2] && kept.arrays[6].shape == [100])
    guard case .float(let logits) = kept.arrays[5].values, case .int(let labels) = kept.arrays[6].values else {
      Issue.record("logits must be floats and labels integers")
      return
    }
    let correct = (0..<100).filter { i in (logits[2 * i + 1] > logits[2 * i] ? 1 : 0) == labels[i] }.count
    #expect(Float(correct) / 100 == again.accuracy.fooled)
  }

  /// Both models' decisions on a whole split (``DecisionAgreement``), by hand: logits `x` for the
  /// original and `(x_0, 2 x_1)` for the "fine-tuned" model on four rows.
  @Test func decisionAgreementIsHandChecked() throws {
    let original = Model(network: Sequential([Dense(weight: Tensor(shape: [2, 2], scalars: [1, 0, 0, 1]))]), architecture: "t", inputShape: [2])
    let fooled = Model(network: Sequential([Dense(weight: Tensor(shape: [2, 2], scalars: [1, 0, 0, 2]))]), architecture: "t", inputShape: [2])
    // Original decisions 0, 1, 0, 1; fine-tuned 0, 1, 1 (3 < 4), 1: three of four alike.
    let data = Dataset(name: "four", inputs: Tensor(shape: [4, 2], scalars: [1, 0, 0, 1, 3, 2, 1, 3]), labels: [0, 1, 1, 0], classNames: ["a", "b"])
    let d = DecisionAgreement(fooled: fooled, original: original, on: data)
    #expect(d == DecisionAgreement(rows: 4, originalAccuracy: 0.5, fooledAccuracy: 0.75, agreement: 0.75))
  }
}
