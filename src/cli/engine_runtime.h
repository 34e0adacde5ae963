// The engine of a `payoutd serve` process: its connector (sandbox or manual, from the settings),
// the screening rules, and the engine itself, with its timings from the settings.
#pragma once

#include <memory>
#include <string>

#include "cli/session.h"
#include "config/config.h"
#include "core/status.h"
#include "engine/connectors/connector.h"
#include "engine/connectors/sandbox.h"
#include "engine/engine.h"
#include "engine/screening.h"

namespace payoutd::cli {

class EngineRuntime {
 public:
  // Builds the connector named by settings.connector and an engine over the session. The engine's
  // loop is not started (start() does, unless --no-engine); cancels of processing payouts can
  // still ask the connector.
  static Result<std::unique_ptr<EngineRuntime>> create(const config::Settings& settings,
                                                       Session& session);
  // Stops the loop and the request worker; idempotent.
  ~EngineRuntime();

  engine::Engine& engine() { return *engine_; }

 private:
  EngineRuntime() = default;

  std::unique_ptr<engine::Connector> connector_;
  engine::BuiltinScreening screening_;
  std::unique_ptr<engine::Engine> engine_;
};

// Options of an engine from the settings' timings.
engine::EngineOptions engine_options(const config::EngineTimings& timings,
                                     std::string instance_id);
engine::SandboxTimings sandbox_timings(const config::EngineTimings& timings);

// "host:pid:random": unique per process, readable in the database's claimed_by column.
std::string engine_instance_id(RandomSource& random);

}  // namespace payoutd::cli
