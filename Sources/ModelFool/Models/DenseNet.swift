/// DenseNet-121 (Huang et al. 2017) in torchvision's layout: growth 32, blocks (6, 12, 24, 16),
/// 64 initial features, bottleneck factor 4, compression 0.5.
///
/// State-dict names: `features.conv0.weight` `[64, 3, 7, 7]`, `features.norm0.*`,
/// `features.denseblock{b}.denselayer{i}.{norm1,conv1,norm2,conv2}.*` (conv1 1x1 to 128, conv2 3x3
/// to 32, no bias), `features.transition{t}.{norm,conv}.*` (1x1 conv halving the channels, then 2x2
/// average pooling), `features.norm5.*` (1024), `classifier.weight` `[classes, 1024]`,
/// `classifier.bias`. After `features`: `relu`, `avgpool` (global), `classifier`. Parameters:
/// 7,978,856. Target layer `avgpool` (its input is the rectified `norm5` map, 7x7 at 224).
enum DenseNet {
  /// Options: `classes` (1000), `seed`, `normalize`, `size`.
  static func build121(_ o: inout ModelOptions) throws -> Model {
    let classes = try o.int("classes", default: 1000)
    var seeds = SeedSequence(try o.seed())
    let (normalize, size, prep) = try ImageNetInput.torchvision(&o)
    let growth = 32
    let features = Sequential(named: [
      ("conv0", Conv2D(inputChannels: 3, outputChannels: 64, kernelSize: 7, stride: 2, padding: 3, bias: false,
                       seed: seeds.next(), initialization: .kaimingNormalFanOut)),
      ("norm0", BatchNorm(channels: 64)),
      ("relu0", ActivationLayer(.relu)),
      ("pool0", MaxPool2D(kernelSize: 3, stride: 2, padding: 1)),
    ])
    var channels = 64
    let blocks = [6, 12, 24, 16]
    for (b, n) in blocks.enumerated() {
      features.append(
        DenseNetBlocks.denseBlock(layers: n, inputChannels: channels, growthRate: growth, seed: seeds.next()),
        named: "denseblock\(b + 1)")
      channels += n * growth
      if b < blocks.count - 1 {
        features.append(
          DenseNetBlocks.transition(inputChannels: channels, outputChannels: channels / 2, seed: seeds.next()),
          named: "transition\(b + 1)")
        channels /= 2
      }
    }
    features.append(BatchNorm(channels: channels), named: "norm5")
    var entries: [(String, any Layer)] = normalize.map { [("normalize", $0)] } ?? []
    entries += [
      ("features", features), ("relu", ActivationLayer(.relu)), ("avgpool", GlobalAvgPool2D()),
      ("classifier", Dense(inputSize: channels, outputSize: classes, seed: seeds.next())),
    ]
    return Model(
      network: Sequential(named: entries), architecture: "densenet121", inputShape: [3, size, size],
      preprocessing: prep, targetLayer: "avgpool")
  }
}
