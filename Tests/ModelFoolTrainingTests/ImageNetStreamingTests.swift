import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// A synthetic ILSVRC-2012 tree made from the shipped sample photos, streamed through a small
/// CNN: fine-tune, interrupt, resume (bit-identical to an uninterrupted run), evaluate sharded
/// two ways and merge (identical to the unsharded evaluation).
@Suite("ImageNet streaming, resume and sharded evaluation")
struct ImageNetStreamingTests {
  static let photos = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("datasets/imagenet-sample").path
  static let wnids = ["n01000004", "n01000001", "n01000003", "n01000002"]

  /// Small grayscale and Adobe CMYK JPEGs (Tests/Fixtures, made by make_image_fixtures.py).
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").path

  static func temporaryFolder(_ tag: String) throws -> String {
    let path = NSTemporaryDirectory() + "modelfool-stream-\(tag)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// A photo cropped (a `size` square at `x, y`), mirrored and written as PNG content.
  static func pngVariant(photo: Int, x: Int, y: Int, size: Int, to path: String) throws {
    let name = try FileManager.default.contentsOfDirectory(atPath: photos).sorted().filter { $0.hasPrefix("imagenet_") }[photo]
    let image = try ImageFile.read(photos + "/" + name)
    var rgb: [UInt8] = []
    for row in y..<(y + size) {
      for column in (x..<(x + size)).reversed() {
        let p = (row * image.width + column) * 3
        rgb += image.rgb[p..<(p + 3)]
      }
    }
    try PNGImage.write(rgb: rgb, width: size, height: size, to: path)
  }

  /// train/<wnid>/: two sample photos each (JPEG), a cropped and mirrored PNG named .JPEG, plus a
  /// grayscale JPEG, a CMYK JPEG, a grayscale PNG and a corrupt file; val/: flat, 8 photos and a
  /// corrupt file, labels in LOC_val_solution.csv.
  static func makeTree() throws -> String {
    let root = try temporaryFolder("tree")
    let manager = FileManager.default
    let names = try manager.contentsOfDirectory(atPath: photos).sorted().filter { $0.hasPrefix("imagenet_") }
    let sorted = wnids.sorted()
    for (k, wnid) in sorted.enumerated() {
      let folder = root + "/train/" + wnid
      try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
      for j in 0..<2 {
        try manager.copyItem(atPath: photos + "/" + names[2 * k + j], toPath: folder + "/\(wnid)_\(j).JPEG")
      }
      try pngVariant(photo: 2 * k, x: 40 * k, y: 30, size: 200, to: folder + "/\(wnid)_9.JPEG")
    }
    try FileManager.default.copyItem(atPath: fixtures + "/gray.jpg", toPath: root + "/train/\(sorted[0])/\(sorted[0])_gray.JPEG")
    try FileManager.default.copyItem(atPath: fixtures + "/cmyk_adobe.jpg", toPath: root + "/train/\(sorted[1])/\(sorted[1])_cmyk.JPEG")
    try PNGImage.write(gray: (0..<(48 * 40)).map { UInt8($0 % 251) }, width: 48, height: 40,
                       to: root + "/train/\(sorted[2])/\(sorted[2])_graypng.JPEG")
    try Data("not an image".utf8).write(to: URL(fileURLWithPath: root + "/train/\(sorted[3])/\(sorted[3])_broken.JPEG"))
    try manager.createDirectory(atPath: root + "/val", withIntermediateDirectories: true)
    var csv = "ImageId,PredictionString\n"
    for i in 1...9 {
      let id = String(format: "ILSVRC2012_val_%08d", i)
      if i == 9 {
        try Data([0xFF, 0xD8, 0xFF, 0x00]).write(to: URL(fileURLWithPath: root + "/val/\(id).JPEG"))
      } else {
        try manager.copyItem(atPath: photos + "/" + names[8 + i], toPath: root + "/val/\(id).JPEG")
      }
      let wnid = sorted[i % 4]
      csv += "\(id),\(wnid) 10 10 100 100 \(wnid) 5 5 50 50\n"
    }
    try csv.write(toFile: root + "/LOC_val_solution.csv", atomically: true, encoding: .utf8)
    return root
  }

  /// A small grayscale CNN of 4 classes taking 28x28 crops of images resized to 32.
  static func baseModel(in folder: String) throws -> String {
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "4,8,8", "classes": "4", "seed": "3"])
    model.preprocessing = "scale=1/255;resize=32;crop=28"
    let path = folder + "/base.h5"
    try Checkpoint.save(model, to: path)
    return path
  }

  final class Events: @unchecked Sendable {
    let lock = NSLock()
    var messages: [String] = []
    var step = 0
    func observer() -> RunObserver {
      RunObserver { event in
        self.lock.lock()
        defer { self.lock.unlock() }
        switch event {
        case .message(let line): self.messages.append(line)
        case .progress(let p) where p.task.hasPrefix("finetune"): self.step = p.done
        default: break
        }
      }
    }
    var currentStep: Int {
      lock.lock()
      defer { lock.unlock() }
      return step
    }
  }

  static func bits(_ model: Model) -> [UInt32] {
    model.namedParameters().sorted { $0.name < $1.name }.flatMap { $0.parameter.value.scalars.map(\.bitPattern) }
  }

  @Test func layoutStreamsEveryKindOfFileAndSkipsTheBrokenOne() throws {
    let root = try Self.makeTree()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let (train, classes) = try ILSVRCFolder.split(.train, root: root, log: { _ in })
    #expect(classes == Self.wnids.sorted())
    #expect(train.count == 16)
    let (val, _) = try ILSVRCFolder.split(.val, root: root, log: { _ in })
    #expect(val.count == 9 && val.label(0) == 1 && val.label(3) == 0)
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "4,8,8", "classes": "4", "seed": "3"])
    model.preprocessing = "scale=1/255;resize=32;crop=28"
    var source = try ModelInputs.streamedImages(for: model, dataDir: root, split: .train, log: { _ in })
    source.prefetch = 1
    source.threads = 3
    let skipped = Events()
    let stream = source.stream([Array(0..<6), Array(6..<11), Array(11..<16)], skipped: { line in
      skipped.lock.lock()
      skipped.messages.append(line)
      skipped.lock.unlock()
    })
    var seen: [Int] = []
    var inputs: [Tensor] = []
    while let batch = try stream.next() {
      seen += batch.indices
      inputs.append(batch.inputs)
    }
    #expect(seen.count == 15 && skipped.messages.count == 1 && skipped.messages[0].contains("broken"))
    // Background decoding gives the pixels of the one-image pipeline.
    for (position, index) in seen.enumerated() where [0, 4, 8, 12].contains(position) {
      let one = try ModelInputs.image(source.files.path(index), for: model)
      let batch = Tensor.concatenate(inputs, alongAxis: 0)
      let row = Array(batch.scalars[(position * 784)..<((position + 1) * 784)])
      #expect(zip(row, one.scalars).allSatisfy { abs($0 - $1) < 1e-6 }, "file \(source.files.path(index))")
    }
    let limited = try ModelInputs.streamedImages(for: model, dataDir: root, split: .val, limit: 3, log: { _ in })
    #expect(limited.count == 3 && limited.files.relativePath(1) == "val/ILSVRC2012_val_00000004.JPEG")
  }

  @Test func interruptedAndResumedRunEqualsTheUninterruptedOneAndShardsMergeExactly() throws {
    let root = try Self.makeTree()
    let work = try Self.temporaryFolder("run")
    defer {
      try? FileManager.default.removeItem(atPath: root)
      try? FileManager.default.removeItem(atPath: work)
    }
    var settings = FineTuneSettings()
    settings.dataset = "imagenet"
    settings.dataDir = root
    settings.model = try Self.baseModel(in: work)
    settings.objective = "location"
    settings.methods = [.gradCAM]
    settings.steps = 10
    settings.batchSize = 4
    settings.learningRate = 3e-3
    settings.lambda = 1
    settings.scored = [.gradCAM, .simpleGradTarget]
    settings.seed = 7

    var whole = FineTuneRun(settings: settings)
    whole.outputFolder = work + "/whole"
    let uninterrupted = try whole.run()
    try uninterrupted.write(to: work + "/whole")
    #expect(uninterrupted.report.run.skippedFiles ?? 0 >= 1)
    #expect(uninterrupted.report.evaluation.skippedFiles == 1 && uninterrupted.report.evaluation.examples == 8)

    let events = Events()
    var first = FineTuneRun(settings: settings, observer: events.observer())
    first.outputFolder = work + "/split"
    first.checkpointEvery = 2
    first.stopRequested = { events.currentStep >= 5 }
    #expect(throws: RunInterrupted.self) { try first.run() }
    #expect(FileManager.default.fileExists(atPath: work + "/split/state/adam.h5"))
    var second = FineTuneRun(settings: FineTuneSettings())
    second.resumeFolder = work + "/split"
    let resumed = try second.run()
    #expect(Self.bits(resumed.fooled) == Self.bits(uninterrupted.fooled), "resumed weights differ from the uninterrupted run's")
    #expect(resumed.report.curves.map(\.crossEntropy.bitPattern) == uninterrupted.report.curves.map(\.crossEntropy.bitPattern))
    #expect(resumed.report.run.settings == uninterrupted.report.run.settings)

    // evaluate --fsr on the streamed validation split: whole, then 2 shards merged.
    func evaluation(shard: String?) throws -> EvaluationOutcome {
      var e = EvaluationSettings(model: work + "/whole/model.h5")
      e.batchSize = 2
      e.shard = shard
      e.methods = [.gradCAM, .simpleGradTarget]
      return try EvaluationRun(settings: e).run()
    }
    let unsharded = try evaluation(shard: nil)
    #expect(unsharded.evaluation.examples == 8 && unsharded.evaluation.skippedFiles == 1)
    let parts = try [evaluation(shard: "1/2"), evaluation(shard: "0/2")].map { try RunJSON.decode(FoolingCounts.self, from: RunJSON.encode($0.counts!), what: "counts") }
    #expect(parts.map(\.examples).reduce(0, +) == 8 && parts.allSatisfy { $0.examples > 0 })
    let merged = try FoolingCounts.merge(parts).evaluation()
    #expect(try RunJSON.encode(merged) == RunJSON.encode(unsharded.evaluation))
    let interval = try #require(merged.methods[0].fsrInterval95)
    #expect(interval.fooled.low <= merged.methods[0].fsr.fooled && merged.methods[0].fsr.fooled <= interval.fooled.high)
    #expect(throws: (any Error).self) { try FoolingCounts.merge([parts[0]]) }
  }

  @Test func wilsonIntervalMatchesTheFormula() throws {
    // 8 of 10 at 95%: the textbook interval [0.4902, 0.9433].
    let i = try #require(Interval.wilson(successes: 8, trials: 10))
    #expect(abs(i.low - 0.4902) < 1e-4 && abs(i.high - 0.9433) < 1e-4)
    let all = try #require(Interval.wilson(successes: 5, trials: 5))
    #expect(all.high == 1 && abs(all.low - 0.5655) < 1e-4)
    #expect(Interval.wilson(successes: 0, trials: 0) == nil)
  }
}
