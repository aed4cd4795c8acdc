"""Wire protocols: message models, codecs, clients and routers. Built on baohan.gm only."""
