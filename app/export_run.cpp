// SPDX-License-Identifier: Apache-2.0
#include "app/export_run.h"

#include <cstdio>

#include "app/cli_common.h"
#include "core/export/export_reader.h"

namespace ostq::cli {

void run_export(const QuantizedModel& q, const std::string& source, const Tokenizer& tokenizer,
                const std::string& tokenizer_path, const ExportRunArgs& a) {
  Result<ExportFormat> format = export_format_parse(a.format);
  throw_if_error(format.status());
  ExportOptions o;
  o.format = format.value();
  o.tokenizer_path = tokenizer_path;
  o.source = source;
  o.llama2c_version = a.llama2c_version;
  if (a.llama2c_version != 0 && a.llama2c_version != 2) throw_invalid("--llama2c-version must be 0 or 2");
  if (a.dense_dtype == "fp32") o.dense_dtype = DType::kF32;
  else if (a.dense_dtype == "fp16") o.dense_dtype = DType::kF16;
  else if (a.dense_dtype == "bf16") o.dense_dtype = DType::kBF16;
  else throw_invalid("--dense-dtype must be fp32, fp16 or bf16");
  o.progress = stderr_progress(a.quiet);
  const std::string out = a.out.empty() ? default_export_path(source, o.format) : a.out;
  const ExportReport r = export_quantized(q, out, o);
  std::printf("exported    %s (%s)\n", r.path.c_str(), export_format_name(r.format));
  std::printf("size        %llu bytes in all, %llu in weight files, %lld parameters: %.3f bits per parameter\n",
              static_cast<unsigned long long>(r.bytes), static_cast<unsigned long long>(r.weight_bytes),
              static_cast<long long>(r.parameters), r.bits_per_parameter);
  for (const std::string& n : r.notes) std::printf("note        %s\n", n.c_str());

  VerifyOptions v;
  v.data_file = a.verify_data;
  v.max_windows = a.verify_windows;
  v.seqlen = a.seqlen;
  v.progress = o.progress;
  Result<VerifyReport> vr = verify_export(out, q, &tokenizer, v);
  throw_if_error(vr.status());
  for (const std::string& c : vr->checks) std::printf("verified    %s\n", c.c_str());
  if (!vr->passed) throw_invalid(out + ": verification failed: " + vr->failure);
  std::printf("verdict     PASS%s\n", vr->evaluated ? "" : " (weights and configuration; pass --verify-data FILE for perplexity)");
}

}  // namespace ostq::cli
