#include "ftz/controller/link_args.hpp"

#include <CLI/CLI.hpp>
#include <cstdlib>

namespace ftz::controller {

CLI::Validator non_negative_seconds() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        char* end = nullptr;
        const double d = std::strtod(v.c_str(), &end);
        if (v.empty() || end != v.c_str() + v.size() || !(d >= 0))
          return "'" + v + "' is not a non-negative number";
        return {};
      },
      "SECONDS");
}

void add_link_options(CLI::App& app, LinkArgs& args) {
  app.add_option("--controller", args.link.target);
  app.add_option("--ca", args.link.ca_file);
  app.add_option("--cert", args.link.cert_file);
  app.add_option("--key", args.link.key_file);
  app.add_option("--dataplane-id", args.link.dataplane_id);
  app.add_option("--state-dir", args.link.state_dir);
  app.add_option("--trusted-keys", args.link.trusted_keys_dir);
  app.add_option("--headless-after", args.headless_after_s)->check(non_negative_seconds());
}

std::string link_usage(std::string_view default_state_dir) {
  return "  --controller unix:PATH | HOST:PORT\n"
         "                    take the policy from ftzgated: signed bundles, verified against\n"
         "                    --trusted-keys, each ACKed or NACKed; ports stay down until the first\n"
         "  --ca F --cert F --key F   with HOST:PORT (mutual TLS): the CA of ftzgated's certificate, this\n"
         "                    data plane's certificate (ftzctl certificate issue dataplane) and its key\n"
         "  --dataplane-id NAME   how ftzgated names this data plane (default: the certificate's name,\n"
         "                    else the host name)\n"
         "  --state-dir DIR   the last applied bundle (a start without the controller runs it),\n"
         "                    the compliance token key and state (default " +
         std::string(default_state_dir) +
         ")\n"
         "  --trusted-keys DIR    *.pub keys bundles must be signed with (default "
         "/etc/ftzgate/trusted-keys)\n"
         "  --headless-after S    without a bundle from the controller after S seconds, start from\n"
         "                    the stored one (default 5)\n";
}

std::string check_policy_source(const std::string& config, const LinkArgs& args) {
  if (config.empty() == args.link.target.empty()) {
    return config.empty() ? "--config FILE or --controller unix:PATH is required"
                          : "--config and --controller exclude each other";
  }
  if ((!args.link.ca_file.empty() || !args.link.cert_file.empty() || !args.link.key_file.empty()) &&
      args.link.target.empty())
    return "--ca, --cert and --key go with --controller HOST:PORT";
  return {};
}

}  // namespace ftz::controller
