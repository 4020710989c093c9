/// VGG-11/16/19 (Simonyan and Zisserman 2015) in torchvision's layout, without batch norm.
///
/// State-dict names and shapes (VGG-19, 1000 classes): `features.{0,2,5,7,10,12,14,16,19,21,23,25,
/// 28,30,32,34}.weight` `[out, in, 3, 3]` and `.bias` (3x3 convs, padding 1, each followed by a
/// ReLU at the next index; max-pools 2x2 at `features.{4,9,18,27,36}`), `avgpool` (adaptive 7x7),
/// `classifier.0` Dense 25088->4096, `classifier.3` Dense 4096->4096, `classifier.6` Dense
/// 4096->classes (ReLU + Dropout(0.5) at 1, 2, 4, 5). Parameters: VGG-11 132,863,336; VGG-16
/// 138,357,544; VGG-19 143,667,240 (torchvision's figures). Target layer: the last max-pool
/// (its input is the rectified last conv map, 14x14 at 224).
enum VGG {
  static let configurations: [Int: [Int]] = [
    11: [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
    16: [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
    19: [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
  ]

  /// Options: `classes` (1000), `seed`, `normalize`, `size`.
  static func build(depth: Int, _ o: inout ModelOptions) throws -> Model {
    let classes = try o.int("classes", default: 1000)
    var seeds = SeedSequence(try o.seed())
    let (normalize, size, prep) = try ImageNetInput.torchvision(&o)
    let features = Sequential([])
    var channels = 3
    for v in configurations[depth]! {
      if v == 0 {
        features.append(MaxPool2D(kernelSize: 2, stride: 2))
      } else {
        features.append(
          Conv2D(inputChannels: channels, outputChannels: v, kernelSize: 3, padding: 1, seed: seeds.next(),
                 initialization: .kaimingNormalFanOut))
        features.append(ActivationLayer(.relu))
        channels = v
      }
    }
    let classifier = Sequential([
      Dense(inputSize: 512 * 7 * 7, outputSize: 4096, seed: seeds.next()),
      ActivationLayer(.relu),
      Dropout(rate: 0.5, seed: seeds.next()),
      Dense(inputSize: 4096, outputSize: 4096, seed: seeds.next()),
      ActivationLayer(.relu),
      Dropout(rate: 0.5, seed: seeds.next()),
      Dense(inputSize: 4096, outputSize: classes, seed: seeds.next()),
    ])
    var entries: [(String, any Layer)] = normalize.map { [("normalize", $0)] } ?? []
    entries += [
      ("features", features), ("avgpool", AdaptiveAvgPool2D(outputHeight: 7, outputWidth: 7)),
      ("flatten", Flatten()), ("classifier", classifier),
    ]
    return Model(
      network: Sequential(named: entries), architecture: "vgg\(depth)", inputShape: [3, size, size],
      preprocessing: prep, targetLayer: "features.\(features.entries.count - 1)")
  }
}
