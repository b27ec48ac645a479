variable "project" {
  description = "Project that owns the topics and subscriptions."
  type        = string
}

variable "project_number" {
  description = "Numeric project id; names the Pub/Sub service agent that forwards dead letters."
  type        = string
}

variable "partners" {
  description = "Partner ids; each gets an activation topic, its `activate` subscription and a dead-letter topic."
  type        = set(string)
}

variable "persistence_regions" {
  description = "Regions where Pub/Sub may store messages: the primary and the standby region, so the standby collector can publish during a regional outage."
  type        = list(string)
}

variable "topic_retention" {
  description = "How long topics keep messages after delivery, so a subscription can be seeked back (replay after a bad rules version)."
  type        = string
  default     = "86400s"
}

variable "subscription_retention" {
  description = "How long subscriptions keep unacked messages (pipeline outage budget)."
  type        = string
  default     = "604800s"
}

variable "dlq_retention" {
  description = "How long dead-letter store subscriptions keep messages for redrive."
  type        = string
  default     = "604800s"
}

variable "pipeline_ack_deadline" {
  description = "Ack deadline of the pipelines' subscriptions (seconds). Beam acks after the bundle commits, so it must exceed a bundle's duration."
  type        = number
  default     = 120
}

variable "activate_ack_deadline" {
  description = "Ack deadline of the activation subscriptions (seconds): covers one partner call with its retries."
  type        = number
  default     = 60
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before Pub/Sub forwards it to the dead-letter topic (5..100)."
  type        = number
  default     = 10
}

variable "labels" {
  description = "Labels put on every resource."
  type        = map(string)
  default     = {}
}
