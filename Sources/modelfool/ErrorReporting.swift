import ArgumentParser
import ModelFool
import Foundation
import ModelFoolTraining

/// Turns any error into the one line the command-line tool prints: library errors name settings,
/// which become the flags that set them; argument-parser errors lose their usage block.
enum ErrorReporting {
  /// The flag of each setting name used in the library's errors and settings documents.
  static let flags: [String: String] = [
    "learningRate": "--lr", "lambda": "--lambda", "steps": "--steps", "batchSize": "--batch-size",
    "keepOutputs": "--keep-outputs", "sensitive": "--sensitive", "classes": "--classes", "objective": "--objective",
    "methods": "--method", "scored": "--methods", "evalCount": "--eval-count", "count": "--count",
    "targetIndex": "--target-index", "gamma": "--gamma", "epsilon": "--epsilon", "betaGrowth": "--beta-growth",
    "defenceBeta": "--defence", "sweepBetas": "--sweep-beta", "target": "--target", "original": "--original",
    "dataset": "--dataset", "images": "--images", "h5": "--h5", "bias": "--bias", "biasRate": "--bias-rate",
    "weights": "--from", "layer": "--layer", "allowDivergence": "--allow-divergence", "dataDir": "--data-dir", "limit": "--limit", "resume": "--resume",
    "checkpointEvery": "--checkpoint-every", "shard": "--shard", "split": "--split", "saveMaps": "--save-maps",
    "model": "--model", "merge": "--merge", "memoryCheck": "--no-memory-check", "shuffledModel": "--shuffled-model",
    "reference": "--reference", "calibration": "--calibration", "alpha": "--alpha", "noise": "--noise", "beta": "--beta",
    "models": "--models", "epochs": "--epochs", "hidden": "--hidden", "weightDecay": "--weight-decay",
    "shuffleLabels": "--shuffle-labels", "csv": "--csv", "schema": "--schema",
    "innocuous": "--innocuous", "repeats": "--repeats", "explainedRows": "--explained-rows", "limeSamples": "--lime-samples",
    "backgroundSize": "--background-size", "realKept": "--real-kept",
    "keepTarget": "--keep-target", "keepMargin": "--keep-margin", "keepRows": "--keep-rows", "keepJitter": "--keep-jitter", "keepResample": "--keep-resample", "ceWeight": "--ce-weight", "anchorWeight": "--anchor-weight", "widen": "--widen",
  ]

  /// The one-line message for `error` and the exit code.
  static func report(_ error: Error, command: ParsableCommand.Type) -> (message: String, code: Int32) {
    if let error = error as? any SettingsError {
      let named = error.settings.compactMap { flags[$0] }
      // A run stopped by a signal ends as the signal would have ended it (130, 143).
      let code = error is RunInterrupted ? Signals.received.map { 128 + $0 } ?? 1 : 1
      return (error.description + (named.isEmpty ? "" : " (\(named.joined(separator: ", ")))"), code)
    }
    let text = command.message(for: error).split(whereSeparator: \.isNewline)
      .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
    return (text, command.exitCode(for: error).rawValue)
  }
}
