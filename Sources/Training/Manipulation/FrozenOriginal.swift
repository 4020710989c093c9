import Foundation
import ModelFool

/// The frozen original model that fine-tuning compares the fooled one with, made when first read.
///
/// Fine-tuning rewrites the model's weights in place, so a copy of the starting weights is a
/// second model of the same size (548 MiB for VGG-19). Objectives whose loss reads only the
/// fooled model's maps (location, and hide without output keeping) never read the original
/// while training; then it is made after training, for the evaluation, by loading the base model
/// again the way the run first loaded it (``init(reloading:with:)``), and the weights it loads
/// must be the ones the run started from.
public final class FrozenOriginal: @unchecked Sendable {
  private let load: () throws -> Model
  private let expectedDigest: String?
  private let source: String
  private var loaded: Model?
  private let lock = NSLock()

  /// An original already in memory (a copy the caller keeps frozen), put in evaluation mode.
  public init(_ model: Model) {
    model.setTraining(false)
    loaded = model
    load = { model }
    expectedDigest = nil
    source = ""
  }

  /// An original loaded by `load` when first read; `base` is the model as first loaded (before any
  /// step), whose weights' digest (``Checkpoint/digest(of:)``) the loaded one must have. `source`
  /// names where it comes from, for the error.
  public init(reloading base: Model, from source: String, with load: @escaping () throws -> Model) {
    expectedDigest = Checkpoint.digest(of: base)
    self.source = source
    self.load = load
  }

  /// Whether the original is in memory (made, or read at least once).
  public var isLoaded: Bool { lock.withLock { loaded != nil } }

  /// The original in evaluation mode, loaded on the first call.
  ///
  /// - Throws: the loader's error, or ``TrainingError`` when the loaded weights are not the ones
  ///   the run started from (the file was replaced during the run).
  public func model() throws -> Model {
    try lock.withLock {
      if let loaded { return loaded }
      let model = try load()
      model.setTraining(false)
      if let expectedDigest, Checkpoint.digest(of: model) != expectedDigest {
        throw TrainingError(
          "the base model \(source) changed during the run (its weights' CRC-32 was \(expectedDigest), now \(Checkpoint.digest(of: model))): the original to compare with is gone; run again",
          settings: ["model"])
      }
      loaded = model
      return model
    }
  }
}
