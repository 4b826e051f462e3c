#pragma once
// IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or plain, and image-classification sets built
// from them.

#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace graphmae2::datasets {

/// Reads one IDX file: 2 zero bytes, a type byte (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64),
/// a rank byte, rank big-endian uint32 sizes, then the big-endian data. Gzip files are recognised by their
/// magic and decompressed on the fly. Returns a CPU tensor of that dtype and shape.
/// Throws std::runtime_error naming the file and the byte offset (in the decompressed stream) of a wrong
/// magic, unknown type, zero rank, truncated header or data, or trailing bytes.
torch::Tensor read_idx(const std::filesystem::path& path);

/// Writes `tensor` (uint8, int8, int16, int32, float32 or float64; rank 1..255) as a plain IDX file, atomically
/// (temp file + rename). Used to make fixtures and to export subsets.
void write_idx(const std::filesystem::path& path, const torch::Tensor& tensor);

/// @brief An image-classification split held in memory on the CPU.
struct ImageDataset {
  std::string name;
  torch::Tensor images;  ///< uint8 [N, C, H, W]
  torch::Tensor labels;  ///< int64 [N], in [0, num_classes)
  int64_t num_classes = 0;

  int64_t size() const { return images.size(0); }
  /// Throws c10::Error if shapes, dtypes or label range disagree.
  void validate() const;
};

/// Loads the MNIST-layout pair <root>/<split>-images-idx3-ubyte[.gz] and <root>/<split>-labels-idx1-ubyte[.gz]
/// (split "train" or "t10k"; the .gz file is preferred when both exist). Images come back as [N, 1, H, W].
/// num_classes is max label + 1 (10 for MNIST and Fashion-MNIST). Throws std::runtime_error naming the paths
/// tried when a file is missing, or naming the file when images and labels disagree in count or type.
ImageDataset load_idx_image_dataset(const std::filesystem::path& root, const std::string& split,
                                    const std::string& name = "");

}  // namespace graphmae2::datasets
