import Foundation
import ModelFool
import ModelFoolData

/// The resumable state of a fine-tuning, in the `state/` folder of its run folder:
///
/// - `weights.h5`: the fine-tuned weights so far (a checkpoint), with the run's record (every
///   setting resolved, ``FineTuneDocument``) and, in its metadata, the progress
///   (``FineTuneProgress``: step, epoch orders drawn from the seeded generator, i.e. its state,
///   position in the current epoch's order, files skipped, curves);
/// - `adam.h5`: Adam's first and second moments and step count per trainable parameter.
///
/// Both carry the step and are written through ``RunOutputs`` (all or nothing); a resumed run
/// refuses a pair whose steps differ.
public enum FineTuneResume {
  /// The state folder of a run folder.
  public static func stateFolder(_ runFolder: String) -> String { runFolder + "/state" }

  /// Writes `state` with the current weights of `model` and the run's `record`.
  public static func save(_ state: FineTuneState, model: Model, record: FineTuneDocument, runFolder: String) throws {
    let progress = try RunJSON.encode(state.progress)
    let run = try RunJSON.encode(record)
    let step = String(state.progress.step)
    try RunOutputs.write(into: stateFolder(runFolder)) { staging in
      try Checkpoint.save(model, to: staging + "/weights.h5", metadata: ["finetune_progress": progress, "step": step], run: run)
      try HDF5File.writeAtomically(to: staging + "/adam.h5") { file in
        var steps: [Int] = []
        for (i, moments) in state.moments.enumerated() {
          guard let moments else { steps.append(-1); continue }
          try file.write(moments.m, shape: [moments.m.count], at: "m_\(i)")
          try file.write(moments.v, shape: [moments.v.count], at: "v_\(i)")
          steps.append(moments.step)
        }
        try file.setAttribute("steps", to: try RunJSON.encode(steps))
        try file.setAttribute("step", to: step)
      }
    }
  }

  /// What a run folder's saved state holds.
  public struct Saved {
    public var record: FineTuneDocument
    public var state: FineTuneState
    /// The fine-tuned weights so far.
    public var model: Model
  }

  /// Reads the state saved in `runFolder`.
  public static func load(_ runFolder: String) throws -> Saved {
    let folder = stateFolder(runFolder)
    let weights = folder + "/weights.h5", adam = folder + "/adam.h5"
    guard FileManager.default.fileExists(atPath: weights), FileManager.default.fileExists(atPath: adam) else {
      throw TrainingError("\(runFolder) holds no saved fine-tuning state (state/weights.h5 and state/adam.h5)", settings: ["resume"])
    }
    guard let recordText = try Checkpoint.runRecord(weights) else {
      throw TrainingError("\(weights) records no run", settings: ["resume"])
    }
    let record = try FineTuneDocument.decode(recordText, source: weights)
    let metadata = try Checkpoint.metadata(weights)
    guard let progressText = metadata["finetune_progress"] else {
      throw TrainingError("\(weights) records no fine-tuning progress", settings: ["resume"])
    }
    let progress = try RunJSON.decode(FineTuneProgress.self, from: progressText, what: weights)
    guard let totalSteps = record.settings.steps else {
      throw TrainingError("\(weights) records no number of steps", settings: ["resume"])
    }
    try progress.check(steps: totalSteps, source: weights)
    let file = try HDF5File.open(adam)
    defer { try? file.close() }
    guard try file.stringAttribute("step") == String(progress.step) else {
      throw TrainingError("\(folder): adam.h5 and weights.h5 are of different steps", settings: ["resume"])
    }
    let steps = try RunJSON.decode([Int].self, from: try file.stringAttribute("steps"), what: adam)
    var moments: [(m: [Float], v: [Float], step: Int)?] = []
    for (i, step) in steps.enumerated() {
      guard step >= 0 else { moments.append(nil); continue }
      moments.append((try file.readFloats(at: "m_\(i)").values, try file.readFloats(at: "v_\(i)").values, step))
    }
    let model = try Checkpoint.load(weights)
    let state = FineTuneState(progress: progress, moments: moments)
    try state.checkMoments(parameters: model.trainableParameters(), source: adam)
    return Saved(record: record, state: state, model: model)
  }
}
