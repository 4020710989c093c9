import ModelFool

extension FineTuneOptions {
  /// The fine-tuning defaults every image objective starts from, per model family (tuned on the
  /// shipped data; measured results: docs/RESULTS.md).
  ///
  /// Digits CNN: lambda 10, Adam 3e-3 with cosine decay, 400 steps of 32 fool Grad-CAM and LRP_T
  /// location at no accuracy cost (cosine decay lets cross-entropy recover at the end). ImageNet
  /// size (the pretrained EfficientNet-Lite0 on the 16 sample photos): sized for a few minutes on
  /// 2 cores, the largest rate and run that kept the held-out photos correct; larger ones trade
  /// held-out accuracy for FSR, as 16 photos' cross-entropy cannot hold 1,000 classes
  /// (docs/RESULTS.md §2).
  mutating func applyImageDefaults(family: ModelFamily) {
    if family == .largeImage {
      lambda = 1
      learningRate = 5e-5
      steps = 150
      batchSize = 4
      evaluateEvery = 50
    } else {
      lambda = 10
      learningRate = 3e-3
      steps = 400
      batchSize = 32
    }
  }
}
