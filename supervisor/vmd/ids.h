#pragma once
// Resource ids ("img-", "vol-", "i-" and 12 random lowercase hex digits),
// the names users give them, and an instance's stable MAC address.

#include <string>

namespace supervisor::vmd {

std::string new_id(const std::string& prefix);
// Whether `text` has the shape of an id of that prefix.
bool looks_like_id(const std::string& text, const std::string& prefix);
// Names: 1-63 letters, digits, '-', '_' or '.', starting with a letter or
// digit, and not shaped like an id (ids and names share the API's paths).
// Throws InvalidInput naming what is wrong.
void check_name(const std::string& kind, const std::string& name);
// Locally administered, unicast, derived from the id: stable for the
// instance's whole life (issue 14 gives it to the guest's card).
std::string mac_for(const std::string& instance_id);

}  // namespace supervisor::vmd
