// Outputs users take to their own tools: a Llama's LoRA adapter in PEFT's
// format, and the model with the adapter merged in, as a Hugging Face
// directory.
//
//   DIR/adapter_model.safetensors   per LoRA layer NAME (e.g. model.layers.0.self_attn.q_proj):
//       base_model.model.NAME.lora_A.weight   (r, in)    = flbench's D0
//       base_model.model.NAME.lora_B.weight   (out, r)   = flbench's U0
//   DIR/adapter_config.json         peft_type LORA, r, lora_alpha, lora_dropout,
//                                   target_modules, task_type CAUSAL_LM, bias none
//
// PEFT computes W x + (lora_alpha / r) B A x, flbench's W x + s U0 D0 x with
// s = alpha / r: the same function. Only pair 0 (the global adapter) is
// exported; pFedLoRU's private pair stays with its client.
#pragma once

#include <memory>
#include <string>

#include "flb/model/llama.h"

namespace flb::hf {

struct AdapterInfo {
  std::string base_model;  // "base_model_name_or_path": the --base directory
  double lora_dropout = 0;
};

// Writes DIR/adapter_model.safetensors and DIR/adapter_config.json (DIR is
// created; existing files are replaced atomically). Throws flb::Error when
// `model` has no LoRA layer or a file cannot be written.
void write_peft_adapter(const std::string& dir, model::Llama& model, const AdapterInfo& info);

// The model of `base_dir` (hf::load_llama) with the PEFT LoRA adapter of
// `adapter_dir` (adapter_config.json: peft_type LORA, r, lora_alpha,
// target_modules among q_proj..down_proj; adapter_model.safetensors:
// lora_A/lora_B of every target layer) loaded as its pair 0. Throws
// flb::Error naming the file and field or tensor that is wrong or missing
// (rslora, DoRA, biases and modules_to_save are refused).
std::shared_ptr<model::Llama> load_llama_with_adapter(const std::string& base_dir, const std::string& adapter_dir);

// Writes DIR/config.json and DIR/model.safetensors (float32) of `model`
// with every LoRA layer's W replaced by W + s U0 D0: a dense checkpoint that
// hf::load_llama and transformers load.
void write_merged_llama(const std::string& dir, model::Llama& model);

}  // namespace flb::hf
