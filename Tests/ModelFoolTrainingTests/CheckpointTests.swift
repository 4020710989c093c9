import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// Checkpoints: bit-exact round trip, precise errors, atomic writes.
@Suite("Checkpoints")
struct CheckpointTests {
  static func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelfool-ckpt-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
  }

  @Test func roundTripIsBitExact() throws {
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["seed": "3", "channels": "4,4,8"])
    model.classNames = (0..<10).map { "digit \($0)" }
    let path = Self.temporaryPath("m.h5")
    try Checkpoint.save(model, to: path, metadata: ["note": "test"])
    let loaded = try Checkpoint.load(path)
    #expect(loaded.architecture == "digits-cnn")
    #expect(loaded.classNames == model.classNames)
    #expect(loaded.inputShape == [1, 28, 28])
    #expect(try Checkpoint.metadata(path)["note"] == "test")
    let a = model.namedParameters(), b = loaded.namedParameters()
    #expect(a.map(\.name) == b.map(\.name))
    for (x, y) in zip(a, b) {
      #expect(x.parameter.value.scalars.map(\.bitPattern) == y.parameter.value.scalars.map(\.bitPattern), "\(x.name)")
    }
  }

  @Test func misShapedParameterIsNamed() throws {
    let small = try ModelZoo.build(architecture: "mlp", options: ["inputs": "5", "hidden": "4"])
    let path = Self.temporaryPath("mlp.h5")
    try Checkpoint.save(small, to: path)
    // Rewrite one weight with a wrong shape.
    let file = try HDF5File.open(path, mode: .readWrite)
    try file.write([Float](repeating: 0, count: 12), shape: [4, 3], at: HDF5File.datasetPath(forParameter: "0.weight"))
    try file.close()
    // The edit broke the file's seal: it is refused as damaged until sealed again.
    #expect { _ = try Checkpoint.load(path) } throws: { "\($0)".contains("fail the checksum written with them") }
    try HDF5File.seal(path)
    #expect {
      _ = try Checkpoint.load(path)
    } throws: { error in
      "\(error)".contains("0.weight has shape [4, 3], mlp needs [4, 5]")
    }
  }

  @Test func missingFileAndForeignFile() throws {
    #expect { _ = try Checkpoint.load("/nonexistent/model.h5") } throws: { "\($0)".contains("does not exist") }
    let path = Self.temporaryPath("plain.h5")
    let file = try HDF5File.create(path)
    try file.write([1, 2], shape: [2], at: "x")
    try file.close()
    #expect { _ = try Checkpoint.load(path) } throws: { "\($0)".contains("is not sealed") }
    #expect { _ = try Checkpoint.load(path, trustUnsealed: true) } throws: { "\($0)".contains("is not a ModelFool checkpoint") }
  }

  @Test func refusesToOverwriteWithNaN() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "3", "hidden": "2"])
    let path = Self.temporaryPath("good.h5")
    try Checkpoint.save(model, to: path)
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let p = try model.parameter(named: "0.weight")
    p.value = Tensor(repeating: .nan, shape: p.shape)
    #expect { try Checkpoint.save(model, to: path) } throws: { "\($0)".contains("0.weight holds NaN") }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
  }
}

/// Format version 2: seals, per-tensor checksums, version-1 files, damage at every byte.
@Suite("Checkpoint integrity")
struct CheckpointIntegrityTests {
  static func weights(_ model: Model) -> [[UInt32]] {
    model.namedParameters().map { $0.parameter.value.scalars.map(\.bitPattern) }
  }

  @Test func writesVersionTwoWithFixedLengthAttributesAndDigests() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "5", "hidden": "4"])
    // Attributes over 64 KiB (past an object header's limit) go to the 1.8 format's dense storage.
    model.featureNames = (0..<10_000).map { "feature number \($0)" }
    let path = CheckpointTests.temporaryPath("v2.h5")
    try Checkpoint.save(model, to: path, run: "")
    #expect(try HDF5File.verifySeal(path))
    #expect(try Checkpoint.load(path).featureNames == model.featureNames)
    let file = try HDF5File.open(path)
    defer { try? file.close() }
    #expect(try file.stringAttribute("format_version") == "2")
    #expect(try file.stringAttribute("run") == "")
    let weight = try file.readFloats(at: "0/weight").values
    #expect(try file.stringAttribute("crc32", at: "0/weight") == Checkpoint.digest(weight))
    #expect(Checkpoint.digest([]) == "00000000" && Checkpoint.digest([1]) == "aca16a6a")  // zlib.crc32(struct.pack("<f", 1))
  }

  @Test func tensorFailingItsChecksumIsNamed() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "5", "hidden": "4"])
    let path = CheckpointTests.temporaryPath("tampered.h5")
    try Checkpoint.save(model, to: path)
    // Change one weight but keep its recorded checksum, then seal the file again: only the
    // tensor's own checksum can tell.
    let file = try HDF5File.open(path, mode: .readWrite)
    let digest = try file.stringAttribute("crc32", at: "2/bias")
    var values = try file.readFloats(at: "2/bias").values
    values[0] += 1
    try file.write(values, shape: [values.count], at: "2/bias")
    try file.setAttribute("crc32", to: digest, at: "2/bias")
    try file.close()
    try HDF5File.seal(path)
    #expect { _ = try Checkpoint.load(path) } throws: {
      oneLine($0) == "checkpoint \(path): tensor 2.bias fails its checksum"
    }
  }

  /// A version-1 file (no seal, no checksums; what ModelFool wrote before and h5py writes)
  /// still loads, with one warning line through `log`.
  @Test func versionOneLoadsWithAWarning() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "5", "hidden": "4", "seed": "4"])
    let path = CheckpointTests.temporaryPath("v1.h5")
    let file = try HDF5File.create(path)
    for (name, p) in model.namedParameters() {
      try file.writeTensor(p.value, at: HDF5File.datasetPath(forParameter: name))
    }
    try file.setAttribute("format", to: Checkpoint.format)
    try file.setAttribute("format_version", to: "1")
    try file.setAttribute("architecture", to: "mlp")
    try file.setAttribute("config", to: #"{"hidden":"4","inputs":"5"}"#)
    try file.close()
    #expect(try HDF5File.verifySeal(path) == false)
    // Refused unless trusted: libhdf5 reads unsealed bytes unchecked.
    #expect { _ = try Checkpoint.load(path, trustUnsealed: false) } throws: {
      oneLine($0).hasPrefix("checkpoint \(path) is not sealed (format version 1, or written by another tool)")
    }
    var lines: [String] = []
    let loaded = try Checkpoint.load(path, log: { lines.append($0) }, trustUnsealed: true)
    #expect(Self.weights(loaded) == Self.weights(model))
    #expect(lines.count == 1 && !lines[0].contains("\n"))
    #expect(lines.first?.hasPrefix("checkpoint \(path) is format version 1") == true && lines.first?.contains("no checksums") == true)

    // Claiming version 2 without a seal, or a newer version, is refused.
    let edit = try HDF5File.open(path, mode: .readWrite)
    try edit.setAttribute("format_version", to: "2")
    try edit.close()
    #expect { _ = try Checkpoint.load(path, trustUnsealed: true) } throws: { oneLine($0).contains("format version 2 but its seal") }
    let newer = try HDF5File.open(path, mode: .readWrite)
    try newer.setAttribute("format_version", to: "3")
    try newer.close()
    #expect { _ = try Checkpoint.load(path, trustUnsealed: true) } throws: { oneLine($0).contains("newer ModelFool (format version 3") }
  }

  /// Each of 300 positions spread over a small checkpoint, its byte XOR 0xFF, and 20 truncations:
  /// every load gives the saved weights bit for bit or throws one line. The same flips behind a
  /// fresh seal (as if the seal were recomputed over the damage) reach libhdf5, the bounded
  /// reads and the tensor checksums: the same must hold.
  @Test func damagedBytesLoadIdenticalOrThrowOneLine() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "5", "hidden": "4", "seed": "2"])
    model.classNames = ["no", "yes"]
    let path = CheckpointTests.temporaryPath("good.h5")
    try Checkpoint.save(model, to: path, metadata: ["note": "flip"])
    let folder = (path as NSString).deletingLastPathComponent
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let reference = Self.weights(model)
    var outcomes: [String: Int] = [:]
    func attempt(_ damaged: [UInt8], reseal: Bool, _ label: String) throws {
      let bad = folder + "/bad.h5"
      // Plain write(2): Foundation's Data.write syncs every file to disk, 600 times here.
      let descriptor = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
      #expect(damaged.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } == damaged.count)
      close(descriptor)
      if reseal { try HDF5File.seal(bad) }
      do {
        let loaded = try Checkpoint.load(bad)
        #expect(Self.weights(loaded) == reference, "\(label): loaded different weights")
        #expect(loaded.classNames == model.classNames, "\(label): loaded different class names")
        outcomes[reseal ? "resealed identical" : "identical", default: 0] += 1
      } catch {
        #expect(!"\(error)".contains("\n"), "\(label): \(error)")
        outcomes[reseal ? "resealed threw" : "threw", default: 0] += 1
      }
    }
    let positions = (0..<300).map { $0 * bytes.count / 300 }
    for position in positions {
      var damaged = bytes
      damaged[position] ^= 0xFF
      try attempt(damaged, reseal: false, "byte \(position)")
      if position >= HDF5File.sealSize { try attempt(damaged, reseal: true, "byte \(position) resealed") }
    }
    for cut in (0..<20).map({ $0 * bytes.count / 20 }) { try attempt(Array(bytes.prefix(cut)), reseal: false, "truncated to \(cut)") }
    // The seal refuses every damaged copy; behind a fresh seal, damage to the data and to
    // libhdf5's checksummed structures is still caught (unused bytes load unchanged).
    // Measured: 320 threw; resealed, 149 threw and 127 loaded identical.
    #expect(outcomes["threw"] == 320 && outcomes["identical"] == nil)
    #expect((outcomes["resealed threw"] ?? 0) > 100)
  }
}

func oneLine(_ error: any Error) -> String {
  let text = "\(error)"
  #expect(!text.contains("\n"), "several lines: \(text)")
  return text
}

/// Optimisers against hand-computed steps.
@Suite("Optimizers")
struct OptimizerTests {
  @Test func sgdWithMomentumAndDecay() {
    let p = Parameter(Tensor([1, -2]))
    var sgd = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.5)
    sgd.update([p], along: [Tensor([0.2, 0.4])])
    // d = g + 0.5 w = [0.7, -0.6]; v = d; w -= 0.1 v.
    #expect(p.value.scalars.enumerated().allSatisfy { abs($0.element - [0.93, -1.94][$0.offset]) < 1e-6 })
    sgd.update([p], along: [Tensor([0.2, 0.4])])
    // d = [0.2 + 0.465, 0.4 - 0.97] = [0.665, -0.57]; v = 0.9 [0.7, -0.6] + d = [1.295, -1.11].
    #expect(p.value.scalars.enumerated().allSatisfy { abs($0.element - [0.93 - 0.1295, -1.94 + 0.111][$0.offset]) < 1e-5 })
  }

  @Test func adamFirstStepIsLearningRateTimesSign() {
    let p = Parameter(Tensor([1, 1, 1]))
    var adam = Adam(learningRate: 0.01)
    adam.update([p], along: [Tensor([3, -0.5, 1e-3])])
    let expected: [Float] = [0.99, 1.01, 0.99]
    #expect(zip(p.value.scalars, expected).allSatisfy { abs($0 - $1) < 1e-5 })
  }

  /// Two steps against hand-computed moments; the update writes into the parameter's own buffer
  /// unless another tensor shares it, which then keeps the values it saw.
  @Test func adamUpdatesInPlaceUnlessShared() {
    let p = Parameter(Tensor([1, 2]))
    var adam = Adam(learningRate: 0.1)
    let buffer = p.value.storage.pointer
    adam.update([p], along: [Tensor([1, -2])])
    #expect(p.value.storage.pointer == buffer)
    #expect(p.value.requiresGradient)
    let seen = p.value
    adam.update([p], along: [Tensor([3, 2])])
    #expect(zip(seen.scalars, [0.9, 2.1]).allSatisfy { abs($0 - $1) < 1e-6 })
    #expect(p.value.storage.pointer != seen.storage.pointer)
    // Step 1 moved each weight by 0.1 against the gradient's sign (m1 = [0.1, -0.2], v1 = [0.001,
    // 0.004]). Step 2: m = 0.9 m1 + 0.1 g = [0.39, 0.02], v = 0.999 v1 + 0.001 g^2 = [0.009999, 0.007996];
    // w -= 0.1 * sqrt(1 - 0.999^2) / (1 - 0.9^2) * m / (sqrt(v) + 1e-8 sqrt(1 - 0.999^2)).
    let c = Double(0.1) * (1 - 0.999 * 0.999).squareRoot() / (1 - 0.81)
    let expected = [0.9 - c * 0.39 / 0.009999.squareRoot(), 2.1 - c * 0.02 / 0.007996.squareRoot()]
    #expect(zip(p.value.scalars, expected).allSatisfy { abs(Double($0) - $1) < 1e-5 })
    let m = adam.moments(of: [p])[0]
    #expect(m?.step == 2)
    #expect(zip(m?.m ?? [], [0.39, 0.02]).allSatisfy { abs($0 - $1) < 1e-6 })
  }

  /// 21 elements: two blocks of 8 lanes and a scalar tail of 5. Against PyTorch's form of Adam in
  /// Float64 (bias-corrected moments, weight decay added to the gradient) over three steps, and
  /// the lanes against the tail: elements 2, 10 and 18 start from the same weight and get the
  /// same gradients, so they must stay equal bit for bit.
  @Test func adamLanesMatchTheScalarTailAndPyTorchsForm() {
    func varied(_ i: Int, _ t: Int) -> Float { Float((i * 5 + t * 3) % 11) / 4 - 1.2 }
    let start: [Float] = (0..<21).map { i in i % 8 == 2 ? 0.75 : Float(i) / 7 - 1.3 }
    let grads: [[Float]] = (1...3).map { t in (0..<21).map { i in i % 8 == 2 ? 0.4 * Float(t) : varied(i, t) } }
    let p = Parameter(Tensor(shape: [21], scalars: start))
    var adam = Adam(learningRate: 0.05, weightDecay: 0.01)
    var w = start.map(Double.init), m = [Double](repeating: 0, count: 21), v = m
    for (t, g) in grads.enumerated() {
      adam.update([p], along: [Tensor(shape: [21], scalars: g)])
      let (c1, c2) = (1 - Foundation.pow(0.9, Double(t + 1)), 1 - Foundation.pow(0.999, Double(t + 1)))
      for i in 0..<21 {
        let d = Double(g[i]) + Double(Float(0.01)) * w[i]
        m[i] = 0.9 * m[i] + 0.1 * d
        v[i] = 0.999 * v[i] + 0.001 * d * d
        w[i] -= Double(Float(0.05)) * (m[i] / c1) / ((v[i] / c2).squareRoot() + 1e-8)
      }
    }
    let got = p.value.scalars
    #expect(zip(got, w).allSatisfy { abs(Double($0) - $1) < 2e-6 * max(1, abs($1)) })
    #expect(got[2] == got[10] && got[10] == got[18])
    #expect(got[2] != start[2])
  }

  @Test func trainingStopsOnNaNLoss() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "2", "hidden": "3"])
    let data = Dataset(name: "bad", inputs: Tensor(shape: [4, 2], scalars: [3e38, -3e38, 0, 1, 1, 1, 0, 0]), labels: [0, 1, 0, 1], classNames: ["a", "b"])
    var options = TrainingOptions()
    options.epochs = 1
    options.batchSize = 4
    #expect { try Trainer.fit(model, train: data, test: nil, options: options) } throws: { "\($0)".contains("loss became nan") }
  }

  @Test func cosineSchedule() {
    let s = LearningRateSchedule.cosine(totalSteps: 10, floor: 0.1)
    #expect(s.rate(base: 1, step: 0) == 1)
    #expect(abs(s.rate(base: 1, step: 5) - 0.55) < 1e-6)
    #expect(abs(s.rate(base: 1, step: 10) - 0.1) < 1e-6)
  }
}
