import Foundation
import ModelFool
import ModelFoolData
import Testing

@Suite struct ImageResizeTests {
  @Test func cubicKernelValues() {
    // Keys kernel, a = -0.5: 1 at 0, 0 at the integers, (a+2)t^3-(a+3)t^2+1 = 0.8671875 at 0.25.
    #expect(ImageResize.cubicKernel(0) == 1)
    #expect(ImageResize.cubicKernel(1) == 0 && ImageResize.cubicKernel(-2) == 0 && ImageResize.cubicKernel(3) == 0)
    #expect(ImageResize.cubicKernel(0.25) == 0.8671875)
    #expect(ImageResize.cubicKernel(-0.75) == 0.2265625)
    #expect(ImageResize.cubicKernel(1.25) == -0.0703125)
  }

  @Test func upscaleTwoByTwoToFourByFour() {
    // Output column 0: centre 0.25, taps at inputs 0 and 1 with kernel(0.25), kernel(1.25)
    // normalised by their sum 0.796875: 100 * 1.0882 - 200 * 0.0882 = 91.18 -> 91.
    // Column 1: centre 0.75, kernel(0.25) and kernel(0.75) over 1.09375:
    // 100 * 0.7929 + 200 * 0.2071 = 120.71 -> 121; columns 2 and 3 mirror them (179, 209).
    let out = ImageResize.bicubic([100, 200, 100, 200], width: 2, height: 2, channels: 1, toWidth: 4, toHeight: 4)
    #expect(out == [91, 121, 179, 209, 91, 121, 179, 209, 91, 121, 179, 209, 91, 121, 179, 209])
    // Vertically, with clamping: 10 * 1.0882 - 250 * 0.0882 < 0 -> 0; 250 * 1.0882 - 10 * 0.0882 > 255 -> 255.
    let tall = ImageResize.bicubic([10, 10, 250, 250], width: 2, height: 2, channels: 1, toWidth: 2, toHeight: 4)
    #expect(tall == [0, 0, 60, 60, 200, 200, 255, 255])
  }

  @Test func downscaleIsAntialiased() {
    // 4 -> 2: scale 2, kernel stretched to support 4. Output 0 (centre 1): taps at inputs 0..3 with
    // kernel((k - 0.5) / 2) = 0.8672, 0.8672, 0.2266, -0.0703 (sum 1.890625):
    // (100 * 0.8672 + 200 * 0.2266 - 255 * 0.0703) / 1.890625 = 60.35 -> 60. Output 1 -> 221.
    let out = ImageResize.bicubic([0, 100, 200, 255], width: 4, height: 1, channels: 1, toWidth: 2, toHeight: 1)
    #expect(out == [60, 221])
  }

  @Test func constantImageStaysConstant() throws {
    let (width, height) = (301, 173)
    let rgb = [UInt8]((0..<(width * height)).flatMap { _ in [UInt8(17), 128, 250] })
    let tensor = try ImagePreprocessing.pixelRange.tensor(rgb: rgb, width: width, height: height)
    #expect(tensor.shape == [1, 3, 224, 224])
    let plane = 224 * 224
    let scalars = tensor.scalars
    #expect(scalars[0..<plane].allSatisfy { $0 == 17 })
    #expect(scalars[plane..<(2 * plane)].allSatisfy { $0 == 128 })
    #expect(scalars[(2 * plane)...].allSatisfy { $0 == 250 })
  }

  @Test func torchvisionSizesAndCropRounding() {
    #expect(ImageResize.sizeForShorterSide(256, width: 1024, height: 683) == (383, 256))
    #expect(ImageResize.sizeForShorterSide(256, width: 500, height: 375) == (341, 256))
    #expect(ImageResize.sizeForShorterSide(256, width: 375, height: 500) == (256, 341))
    #expect(ImageResize.sizeForShorterSide(256, width: 512, height: 512) == (256, 256))
    // round((383 - 224) / 2) = round(79.5) = 80 and round(0.5) = 0 (half to even, as Python).
    #expect(ImageResize.centerCropOrigin(width: 383, height: 256, cropWidth: 224, cropHeight: 224) == (80, 16))
    #expect(ImageResize.centerCropOrigin(width: 225, height: 227, cropWidth: 224, cropHeight: 224) == (0, 2))
    let crop = ImageResize.centerCrop(Array(0..<20), width: 5, height: 4, channels: 1, cropWidth: 2, cropHeight: 2)
    #expect(crop == [7, 8, 12, 13])  // origin (round(1.5), round(1.0)) = (2, 1)
  }

  @Test func valueMappingPresets() throws {
    let rgb: [UInt8] = [0, 127, 255, 255, 0, 127]  // two pixels, 2x1
    let none = ImagePreprocessing(resizeShorterSide: nil, centerCrop: nil)
    #expect(try none.tensor(rgb: rgb, width: 2, height: 1).scalars == [0, 1, 127 / 255, 0, 1, 127 / 255])
    var lite = ImagePreprocessing.efficientNetLite
    lite.resizeShorterSide = nil
    lite.centerCrop = nil
    #expect(try lite.tensor(rgb: rgb, width: 2, height: 1).scalars == [-127 / 128, 1, 0, -127 / 128, 1, 0])
    var torch = ImagePreprocessing.torchvision
    torch.resizeShorterSide = nil
    torch.centerCrop = nil
    let t = try torch.tensor(rgb: rgb, width: 2, height: 1).scalars
    #expect(t[0] == (0 - Float(0.485)) / 0.229)
    #expect(t[2] == (Float(127) / 255 - 0.456) / 0.224)
    #expect(t[5] == (Float(127) / 255 - 0.406) / 0.225)
    let json = ImagePreprocessing.efficientNetLite.jsonString
    #expect(json == #"{"centerCrop":224,"divisor":1,"mean":[127,127,127],"resizeShorterSide":256,"std":[128,128,128]}"#)
    #expect(try ImagePreprocessing(jsonString: json) == .efficientNetLite)
    #expect(throws: DataError.self) { try ImagePreprocessing(jsonString: "{}") }
    let small = #expect(throws: DataError.self) {
      try ImagePreprocessing(resizeShorterSide: nil).tensor(rgb: rgb, width: 2, height: 1, source: "x.png")
    }
    #expect(small.map(oneLineDescription) == "x.png: image of 2x1 pixels is smaller than the 224x224 crop")
  }
}
