"""The tender protocol (投标保函数据服务支撑平台, spec 004): fourteen interfaces, sealed bid applications."""
